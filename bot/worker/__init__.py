"""The work after the ack: job kinds, the consumer that runs them, and the schedule of timed jobs."""

from bot.worker.consumer import Consumer
from bot.worker.registry import Later, Registry

__all__ = ["Consumer", "Later", "Registry"]

"""Cyclr for Slack: search, install and authorise Cyclr connectors from Slack.

Importing this package has no side effects: no ``.env`` is read and nothing touches the
network. The entry point is :mod:`bot.cli` (``cyclr-bot`` / ``python -m bot``).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]

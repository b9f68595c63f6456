"""What every part of :class:`~bot.store.store.Store` shares: its engine, its clock and
its write transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from bot.store.clock import Clock
from bot.store.transaction import begin

__all__ = ["Rows"]


class Rows:
    engine: Engine
    _clock: Clock

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction, committed on leaving (or the one it joins, :mod:`.transaction`)."""
        with begin(self.engine) as conn:
            yield conn

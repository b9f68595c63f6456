"""One transaction across the store's parts, so a request's record and the jobs that carry it
on commit together or not at all.

Every write in :mod:`bot.store` opens its transaction with :func:`begin`, and every read its
connection with :func:`connect`. Outside :func:`begin` those are ``engine.begin()`` and
``engine.connect()``; inside it, on the same engine and in the same thread (a context
variable; a context copied into another thread does not join), both are the outer
transaction, which thus reads what it wrote. A submission is thus one write
(its row and its jobs): one turn of SQLite's single write lock instead of three, and no
row left without its job if the process dies between them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine

__all__ = ["begin", "connect"]

#: The open transaction and the thread it belongs to: a context copied into another thread
#: (the after-ack pool copies the request's) must not share the connection.
_current: ContextVar[tuple[Connection, int] | None] = ContextVar("cyclr_bot_transaction", default=None)


def _joined(engine: Engine) -> Connection | None:
    current = _current.get()
    if current is None:
        return None
    conn, thread = current
    return conn if thread == threading.get_ident() and conn.engine is engine else None


@contextmanager
def begin(engine: Engine) -> Iterator[Connection]:
    """A transaction on ``engine``, committed on leaving the outermost :func:`begin`.

    A statement that fails inside a joined transaction fails the whole of it: code that
    expects a conflict says so in SQL (``ON CONFLICT DO NOTHING``) rather than catching it.
    """
    outer = _joined(engine)
    if outer is not None:
        yield outer
        return
    with engine.begin() as conn:
        token = _current.set((conn, threading.get_ident()))
        try:
            yield conn
        finally:
            _current.reset(token)


@contextmanager
def connect(engine: Engine) -> Iterator[Connection]:
    """A connection for reading: the transaction of the :func:`begin` around it, if any."""
    outer = _joined(engine)
    if outer is not None:
        yield outer
        return
    with engine.connect() as conn:
        yield conn

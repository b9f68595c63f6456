"""``/healthz`` probes a write (issue 11, item 8): a database that answers reads but refuses
writes (an SQLite file that is read-only or full) is unhealthy, with a short reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event, select

from bot.store import Store, StoreUnavailable, tables
from tests.e2e.harness import running_bot


def refuse_writes(store: Store) -> None:
    """From now on every connection of ``store`` is read-only (as a read-only file would be)."""

    @event.listens_for(store.engine, "connect")
    def _read_only(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if store.engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute("SET default_transaction_read_only = on")
            dbapi_connection.commit()
        cursor.close()

    store.engine.dispose()  # the pooled connections were opened writable


def test_healthz_is_503_with_a_reason_when_the_database_refuses_writes(tmp_path: Path) -> None:
    with running_bot(tmp_path) as bot:
        healthy = requests.get(bot.url + "/healthz", timeout=5)
        assert healthy.status_code == 200 and healthy.json()["ok"] is True
        refuse_writes(bot.services.store)
        sick = requests.get(bot.url + "/healthz", timeout=5)
        assert sick.status_code == 503
        body = sick.json()
        assert body["ok"] is False
        assert "does not take writes" in body["error"] and "readonly" in body["error"]
        assert len(body["error"]) < 200 and "Traceback" not in body["error"]


def test_probe_write_upserts_one_heartbeat_row(store: Store) -> None:
    store.probe_write()
    store.probe_write()
    with store.engine.connect() as conn:
        rows = conn.execute(select(tables.heartbeat)).all()
    assert [row.name for row in rows] == ["healthz"]


def test_probe_write_raises_when_writes_are_refused(store: Store) -> None:
    store.ping()
    refuse_writes(store)
    store.ping()  # reads still work: this is what a ping alone missed
    with pytest.raises(StoreUnavailable) as raised:
        store.probe_write()
    assert str(raised.value) and len(str(raised.value)) < 200

"""The alert ledger on both databases: a transaction is recorded once per thread (however
many callers race), counts are exact, subscriptions and webhook secrets."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bot.store import Store
from bot.store.alerts import AlertLedger, secret_hash

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def add(ledger: AlertLedger, thread_id: int, tx: str, minutes: int = 0) -> bool:
    return ledger.add_event(
        thread_id,
        transaction_id=tx,
        level="error",
        step_name="Create Contact",
        message="Boom",
        detail="[redacted]",
        auth_failure=False,
        occurred_at=T0 + timedelta(minutes=minutes),
    )


def test_a_transaction_is_recorded_once_per_thread(store: Store) -> None:
    ledger = AlertLedger(store.engine)
    ledger.subscribe(team_id="T1", channel_id="C1", account_id="acc", level="errors", by="U1")
    thread = ledger.thread("C1", "acc", "cycle-1", "Sync")
    assert ledger.thread("C1", "acc", "cycle-1", None).id == thread.id  # one per cycle and channel
    with ThreadPoolExecutor(8) as pool:
        added = list(pool.map(lambda _: add(ledger, thread.id, "tx-1"), range(8)))
    assert added.count(True) == 1
    assert add(ledger, thread.id, "tx-2", 5)
    other = ledger.thread("C2", "acc", "cycle-1", "Sync")
    assert add(ledger, other.id, "tx-1")  # another channel hears of it too
    summary = ledger.summary(thread.id)
    assert (summary.count, summary.first_seen, summary.last_seen) == (2, T0, T0 + timedelta(minutes=5))
    assert summary.latest is not None and summary.latest.transaction_id == "tx-2"
    assert [e.transaction_id for e in ledger.unposted(thread.id)] == ["tx-1", "tx-2"]
    ledger.mark_posted([e.id for e in ledger.unposted(thread.id)])
    assert ledger.unposted(thread.id) == [] and ledger.threads_with_unposted("C1") == []
    assert [t.id for t in ledger.threads_with_unposted("C2")] == [other.id]


def test_subscriptions_and_the_webhook_secret(store: Store) -> None:
    ledger = AlertLedger(store.engine)
    assert ledger.subscribe(team_id="T1", channel_id="C1", account_id="acc", level="errors", by="U1")
    assert not ledger.subscribe(team_id="T1", channel_id="C1", account_id="acc", level="warnings", by="U1")
    [sub] = ledger.subscriptions(channel_id="C1")
    assert sub.warnings and ledger.subscribed_accounts() == ["acc"]
    ledger.save_webhook(
        "acc", secret="s" * 40, previous_enabled=True, previous_url="https://x/y", previous_warnings=False
    )
    ledger.save_webhook(
        "acc", secret="t" * 40, previous_enabled=True, previous_url=None, previous_warnings=True
    )
    account = ledger.account("acc")
    assert account is not None and account.secret_hash == secret_hash("t" * 40)
    assert (account.previous_url, account.previous_warnings) == ("https://x/y", False)  # the first one kept
    assert ledger.account_for_secret("t" * 40) == "acc"
    assert ledger.account_for_secret("s" * 40) is None  # replaced
    assert ledger.unsubscribe(team_id="T1", channel_id="C1", account_id="acc")
    assert not ledger.unsubscribe(team_id="T1", channel_id="C1", account_id="acc")
    assert ledger.forget_account("acc") is not None and ledger.account("acc") is None

"""The health ledger on both databases: what counts as a lost login, and telling it once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.store import Store
from bot.store.health import HealthLedger, SeenConnector

DAY = timedelta(days=1)


def seen(*states: bool) -> list[SeenConnector]:
    return [SeenConnector(i + 1, f"C{i + 1}", ok) for i, ok in enumerate(states)]


def test_only_a_login_seen_before_and_gone_now_is_lost(store: Store) -> None:
    ledger = HealthLedger(store.engine)
    assert ledger.record("acc", seen(True, False)) == []  # first look: nothing to compare with
    lost = ledger.record("acc", seen(False, False))
    assert [c.account_connector_id for c in lost] == [1]  # 2 was never authenticated
    assert [c.account_connector_id for c in ledger.record("acc", seen(False, False))] == [1]  # still lost
    assert ledger.record("acc", seen(True, False)) == []  # signed in again
    assert ledger.record("other", seen(False)) == []  # accounts are apart


def test_a_lost_login_is_claimed_for_telling_by_one_caller_a_day(store: Store) -> None:
    ledger = HealthLedger(store.engine)
    ledger.record("acc", seen(True))
    assert not ledger.claim_telling("acc", 1, every=DAY)  # not lost
    ledger.record("acc", seen(False))
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: ledger.claim_telling("acc", 1, every=DAY), range(8)))
    assert claims.count(True) == 1
    assert not ledger.claim_telling("acc", 1, every=DAY)
    ledger.release_telling("acc", 1)  # the telling failed: the next sweep tells again
    assert ledger.claim_telling("acc", 1, every=DAY)
    assert ledger.claim_telling("acc", 1, every=timedelta(0))


def test_a_connector_gone_from_the_account_is_forgotten(store: Store) -> None:
    ledger = HealthLedger(store.engine)
    ledger.record("acc", seen(True, True))
    ledger.record("acc", [SeenConnector(2, "C2", True)])
    assert ledger.record("acc", [SeenConnector(1, "C1", False)]) == []  # 1 is new again

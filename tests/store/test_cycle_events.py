"""The audit log's cycle changes: one row per request, outcomes, the interval Resume uses."""

from __future__ import annotations

from typing import Any

from bot.store import CycleAction, CycleEventState, Store


def _begin(store: Store, key: str, **overrides: Any) -> Any:
    values: dict[str, Any] = dict(
        request_key=key,
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        account_id="acme",
        cycle_id="cy-1",
        action=CycleAction.ACTIVATE,
        interval=60,
    )
    values.update(overrides)
    return store.begin_cycle_event(**values)


def test_a_repeated_request_finds_the_same_row(store: Store) -> None:
    first, created = _begin(store, "view:V1")
    again, created_again = _begin(store, "view:V1", interval=5)
    assert created and not created_again
    assert again.id == first.id and again.interval == 60 and again.state is CycleEventState.PENDING


def test_the_first_outcome_stands(store: Store) -> None:
    event, _ = _begin(store, "view:V2")
    done = store.finish_cycle_event(event.id, CycleEventState.DONE, cycle_name="Orders")
    assert done is not None and done.state is CycleEventState.DONE and done.cycle_name == "Orders"
    late = store.finish_cycle_event(event.id, CycleEventState.FAILED, reason="late")
    assert late is not None and late.state is CycleEventState.DONE and late.reason is None


def test_last_intervals_are_those_of_starts_that_happened(store: Store) -> None:
    old, _ = _begin(store, "a", interval=15)
    store.finish_cycle_event(old.id, CycleEventState.DONE)
    newer, _ = _begin(store, "b", interval=1440)
    store.finish_cycle_event(newer.id, CycleEventState.DONE)
    refused, _ = _begin(store, "c", interval=5)
    store.finish_cycle_event(refused.id, CycleEventState.FAILED, reason="prerequisite")
    paused, _ = _begin(store, "d", action=CycleAction.PAUSE, interval=None)
    store.finish_cycle_event(paused.id, CycleEventState.DONE)
    other, _ = _begin(store, "e", cycle_id="cy-2", account_id="globex", interval=30)
    store.finish_cycle_event(other.id, CycleEventState.DONE)
    assert store.last_intervals("acme", ["cy-1", "cy-2", "cy-3"]) == {"cy-1": 1440}
    assert store.last_intervals("globex", ["cy-2"]) == {"cy-2": 30}
    assert store.last_intervals("acme", []) == {}


def test_recent_events_are_the_teams_newest_in_the_accounts_given(store: Store) -> None:
    for n, account in enumerate(("acme", "globex", "acme")):
        _begin(store, f"k{n}", account_id=account)
    _begin(store, "other-team", team_id="T2")
    assert [e.request_key for e in store.recent_cycle_events("T1")] == ["k2", "k1", "k0"]
    assert [e.request_key for e in store.recent_cycle_events("T1", account_ids={"acme"})] == ["k2", "k0"]
    assert [e.request_key for e in store.recent_cycle_events("T1", limit=1)] == ["k2"]

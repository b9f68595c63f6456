"""Injected faults: each kind, its filters and count, and seeded random faults."""

from __future__ import annotations

import time

import pytest
import requests

from bot.cyclr.sandbox import FAULT_KINDS, CyclrSandbox, Fault
from tests.fixtures.sandbox import MakeSandbox
from tests.sandbox.conftest import Http

CONNECTORS = "/v1.0/connectors"


def _install_path(sandbox: CyclrSandbox, name: str = "Webhook") -> str:
    return f"/v1.0/connectors/{sandbox.connector_by_name(name)['Id']}/install"


def test_status_fault_answers_the_status_and_does_not_apply(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018 - fetch the token before arming the fault
    cyclr_sandbox.faults.add(Fault("status", status=503, count=2, path_prefix="/v1.0/connectors/"))
    path = _install_path(cyclr_sandbox)

    first = http.post(path, account="acme-prod", json={})
    second = http.post(path, account="acme-prod", json={})
    third = http.post(path, account="acme-prod", json={})

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 200]
    assert first.json() == {"Message": "The service is temporarily unavailable."}
    assert len(cyclr_sandbox.installed("acme-prod")) == 1
    assert [r.fault for r in cyclr_sandbox.requests if r.path == path] == ["status", "status", None]
    assert cyclr_sandbox.faults.pending == []


def test_status_fault_may_carry_retry_after(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(Fault("status", status=500, retry_after=1.5))

    response = http.get(CONNECTORS)

    assert response.status_code == 500
    assert response.json() == {"Message": "An error has occurred."}
    assert response.headers["Retry-After"] == "1.5"


def test_rate_limit_fault_sends_429_with_retry_after(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(Fault("rate_limit", retry_after=2))
    cyclr_sandbox.faults.add(Fault("rate_limit"))

    with_header = http.get(CONNECTORS)
    without = http.get(CONNECTORS)

    assert with_header.status_code == 429 and with_header.headers["Retry-After"] == "2"
    assert without.status_code == 429 and "Retry-After" not in without.headers
    assert http.get(CONNECTORS).status_code == 200


def test_drop_before_closes_without_answer_and_does_not_apply(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(Fault("drop_before", method="POST"))

    with pytest.raises(requests.ConnectionError):
        http.post(_install_path(cyclr_sandbox), account="acme-prod", json={})

    assert cyclr_sandbox.installed("acme-prod") == []
    [recorded] = [r for r in cyclr_sandbox.requests if r.method == "POST" and r.path.endswith("/install")]
    assert (recorded.status, recorded.fault) == (0, "drop_before")


def test_drop_after_applies_then_closes_without_answer(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(Fault("drop_after", path_prefix="/v1.0/connectors/"))

    with pytest.raises(requests.ConnectionError):
        http.post(_install_path(cyclr_sandbox), account="acme-prod", json={"Name": "Applied"})

    assert [c["Name"] for c in cyclr_sandbox.installed("acme-prod")] == ["Applied"]
    retry = http.post(_install_path(cyclr_sandbox), account="acme-prod", json={"Name": "Applied"})
    assert retry.status_code == 400 and retry.json()["Message"].endswith("is in use.")


def test_delay_after_applies_then_answers_late(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(Fault("delay_after", delay=0.5, method="POST"))

    with pytest.raises(requests.ReadTimeout):
        http.post(_install_path(cyclr_sandbox), account="acme-prod", json={"Name": "Late"}, timeout=0.15)

    assert [c["Name"] for c in cyclr_sandbox.installed("acme-prod")] == ["Late"]


def test_delay_before_sleeps_then_handles(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(Fault("delay_before", delay=0.2))

    started = time.perf_counter()
    response = http.get("/v1.0/accounts")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200 and elapsed >= 0.2
    assert http.get("/v1.0/accounts").elapsed.total_seconds() < 0.2


def test_unfiltered_faults_hit_the_token_endpoint_too(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    cyclr_sandbox.faults.add(Fault("status", status=502))

    assert http.fetch_token().status_code == 502
    assert http.fetch_token().status_code == 200
    assert [(h.kind, h.path) for h in cyclr_sandbox.faults.hits] == [("status", "/oauth/token")]


def test_count_none_lasts_until_cleared_and_method_filters(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.add(
        Fault("status", status=503, count=None, method="GET", path_prefix="/v1.0/accounts")
    )

    statuses = [http.get("/v1.0/accounts").status_code for _ in range(3)]
    unaffected = http.get(CONNECTORS).status_code
    cyclr_sandbox.faults.clear()

    assert statuses == [503, 503, 503] and unaffected == 200
    assert http.get("/v1.0/accounts").status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"kind": "explode"}, "unknown fault kind"),
        ({"kind": "status", "count": 0}, "count"),
        ({"kind": "status", "status": 200}, "error status"),
        ({"kind": "delay_after", "delay": -1}, "delay"),
    ],
)
def test_bad_faults_are_refused(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Fault(**kwargs)  # type: ignore[arg-type]


def _random_run(make: MakeSandbox, seed: int) -> list[int]:
    sandbox = make()
    http = Http(sandbox)
    try:
        http.token  # noqa: B018
        sandbox.faults.random(rate=0.5, seed=seed, kinds=("status", "rate_limit"), paths=CONNECTORS)
        return [http.get(CONNECTORS, params={"pageSize": 1}).status_code for _ in range(30)]
    finally:
        http.close()


def test_random_faults_are_seeded_and_filtered(make_cyclr_sandbox: MakeSandbox) -> None:
    first = _random_run(make_cyclr_sandbox, seed=7)
    again = _random_run(make_cyclr_sandbox, seed=7)
    other = _random_run(make_cyclr_sandbox, seed=8)

    assert first == again != other
    assert set(first) <= {200, 429, 500, 502, 503, 504}
    assert 5 <= first.count(200) <= 25


def test_random_faults_respect_paths_and_limit(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    http.token  # noqa: B018
    cyclr_sandbox.faults.random(rate=1.0, seed=1, kinds=["rate_limit"], paths=["/v1.0/accounts"], limit=2)

    accounts = [http.get("/v1.0/accounts").status_code for _ in range(3)]
    connectors = http.get(CONNECTORS).status_code

    assert accounts == [429, 429, 200] and connectors == 200
    assert set(FAULT_KINDS) == {
        "status",
        "rate_limit",
        "drop_before",
        "drop_after",
        "delay_before",
        "delay_after",
    }

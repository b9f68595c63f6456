"""Many clients at once: installs stay consistent and every request is answered."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from bot.cyclr.sandbox import CyclrSandbox
from tests.sandbox.conftest import TIMEOUT, Http

THREADS = 20


def _install(sandbox: CyclrSandbox, token: str, connector_id: int, name: str) -> requests.Response:
    with requests.Session() as session:
        return session.post(
            f"{sandbox.api_url}/v1.0/connectors/{connector_id}/install",
            headers={"Authorization": f"Bearer {token}", "X-Cyclr-Account": "acme-prod"},
            json={"Name": name},
            timeout=TIMEOUT,
        )


def test_concurrent_installs_of_distinct_names_all_succeed_with_unique_ids(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    webhook = cyclr_sandbox.connector_by_name("Webhook")["Id"]
    cyclr_sandbox.install_latency = 0.05  # keep the requests overlapping

    with ThreadPoolExecutor(THREADS) as pool:
        responses = list(
            pool.map(lambda n: _install(cyclr_sandbox, http.token, webhook, f"Hook {n}"), range(THREADS))
        )

    assert [r.status_code for r in responses] == [200] * THREADS
    ids = [r.json()["Id"] for r in responses]
    assert len(set(ids)) == THREADS
    assert sorted(c["Id"] for c in cyclr_sandbox.installed("acme-prod")) == sorted(ids)
    assert cyclr_sandbox.count("POST", path_prefix="/v1.0/connectors/") == THREADS


def test_concurrent_installs_of_one_name_succeed_exactly_once(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    webhook = cyclr_sandbox.connector_by_name("Webhook")["Id"]

    with ThreadPoolExecutor(THREADS) as pool:
        responses = list(
            pool.map(lambda _: _install(cyclr_sandbox, http.token, webhook, "Same"), range(THREADS))
        )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (THREADS - 1)
    assert len(cyclr_sandbox.installed("acme-prod")) == 1


def test_concurrent_reads_share_one_token(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    def read(page: int) -> list[int]:
        response = http.session.get(
            f"{cyclr_sandbox.api_url}/v1.0/connectors",
            params={"page": page, "pageSize": 100},
            headers={"Authorization": f"Bearer {http.token}"},
            timeout=TIMEOUT,
        )
        return [item["Id"] for item in response.json()]

    with ThreadPoolExecutor(8) as pool:
        pages = list(pool.map(read, range(1, 13)))

    ids = [i for page in pages for i in page]
    assert len(ids) == len(set(ids)) == len(cyclr_sandbox.state.connectors())

"""What a connector health sweep costs: ``python -m benchmarks.health_sweep [--accounts N] [--connectors M]``.

The Cyclr sandbox on loopback holds N accounts of M installed, authenticated OAuth
connectors; the bot's :class:`~bot.services.health.HealthService` sweeps them twice over a
SQLite store: once to learn the states, then after one login per account was lost. Prints
the Cyclr calls and seconds of each sweep, and the logins told. Each told login costs one
more call when its ``tell-login-lost`` job re-reads the connector.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bot.cyclr import CyclrClient
from bot.cyclr.sandbox import CyclrSandbox
from bot.services.health import HealthService
from bot.services.notifier import SilentNotifier
from bot.store import Store
from bot.store.health import HealthLedger

__all__ = ["main", "sweep_costs"]


class _Counting(SilentNotifier):
    def __init__(self) -> None:
        self.told = 0

    def login_lost(self, account_id: str, account_connector_id: int, connector_name: str) -> None:
        self.told += 1


def sweep_costs(accounts: int, connectors: int) -> list[str]:
    lines: list[str] = []
    sandbox = CyclrSandbox().start()
    try:
        oauth = sandbox.connector_by_name("Salesforce")
        ids = [f"bench-{i:03d}" for i in range(accounts)]
        for account_id in ids:
            sandbox.state.add_account(account_id, account_id)
            for n in range(connectors):
                installed = sandbox.state.install(account_id, oauth, {"Name": f"Salesforce {n}"})
                sandbox.set_authenticated(account_id, int(installed["Id"]), True)
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
            store.create_schema()
            for i, account_id in enumerate(ids[1:]):
                store.bind_channel(team_id="T1", channel_id=f"C{i:08d}", account_id=account_id, bound_by="U1")
            client = CyclrClient(
                api_url=sandbox.api_url, client_id=sandbox.client_id, client_secret=sandbox.client_secret
            )
            client.fetch_token()
            notifier = _Counting()
            ledger = HealthLedger(store.engine)
            health = HealthService(client, store, ledger, notifier, default_account_id=ids[0])

            def sweep(label: str) -> None:
                calls = len(sandbox.requests)
                started = time.perf_counter()
                report = health.sweep()
                seconds = time.perf_counter() - started
                lines.append(
                    f"{label}: {len(sandbox.requests) - calls} Cyclr calls for {report.accounts} accounts"
                    f" × {connectors} connectors, {seconds:.2f} s;"
                    f" {len(report.lost)} lost, {report.told} told"
                )

            sweep("first sweep (learns the states)")
            for account_id in ids:
                sandbox.lose_auth(account_id, int(sandbox.installed(account_id)[0]["Id"]))
            sweep("second sweep (one login lost per account)")
            sweep("third sweep (still lost, told today)")
            client.close()
            store.close()
    finally:
        sandbox.stop()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--connectors", type=int, default=50)
    args = parser.parse_args(argv)
    for line in sweep_costs(args.accounts, args.connectors):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m bot.cyclr.sandbox``: run the sandbox on its own and print how to reach it."""

from __future__ import annotations

import argparse
import logging
import threading

from .server import CyclrSandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.cyclr.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each install takes")
    parser.add_argument("--api-latency", type=float, default=0.0, help="seconds every API call takes")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    sandbox = CyclrSandbox(
        args.host, args.port, install_latency=args.latency, api_latency=args.api_latency
    ).start()
    accounts = ", ".join(f"{a['Id']} ({a['Name']})" for a in sandbox.state.accounts())
    print(
        "Cyclr sandbox running (Ctrl-C to stop)\n"
        f"  CYCLR_API_URL={sandbox.api_url}\n"
        f"  CYCLR_SERVICE_URL={sandbox.service_url}\n"
        f"  CYCLR_CLIENT_ID={sandbox.client_id}\n"
        f"  CYCLR_CLIENT_SECRET={sandbox.client_secret}\n"
        f"  CYCLR_ACCOUNT_ID={sandbox.default_account_id}\n"
        f"  accounts: {accounts}\n"
        f"  connectors: {len(sandbox.state.connectors())}, templates: {len(sandbox.templates())}\n"
        f"  controls (lose auth, raise incidents, latency): {sandbox.control_url}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

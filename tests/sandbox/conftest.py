"""Helpers for talking to the sandbox over plain ``requests``, as any HTTP client would."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bot.cyclr.sandbox import CyclrSandbox

TIMEOUT = 5.0


class Http:
    """A ``requests`` session aimed at one sandbox, holding a bearer token once fetched."""

    def __init__(self, sandbox: CyclrSandbox) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.trust_env = False
        self._token: str | None = None

    def fetch_token(self, **form: str) -> requests.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.sandbox.client_id,
            "client_secret": self.sandbox.client_secret,
            **form,
        }
        return self.session.post(f"{self.sandbox.api_url}/oauth/token", data=data, timeout=TIMEOUT)

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.fetch_token()
            assert response.status_code == 200, response.text
            self._token = response.json()["access_token"]
        return self._token

    def call(
        self,
        method: str,
        path: str,
        *,
        account: str | None = None,
        token: str | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """``method`` on the API domain; ``account`` sets X-Cyclr-Account, ``auth=False`` sends no token."""
        headers = dict(kwargs.pop("headers", {}))
        if auth:
            headers["Authorization"] = f"Bearer {token or self.token}"
        if account is not None:
            headers["X-Cyclr-Account"] = account
        kwargs.setdefault("timeout", TIMEOUT)
        return self.session.request(method, f"{self.sandbox.api_url}{path}", headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def install(self, name: str, body: Any = None, *, account: str = "acme-prod") -> requests.Response:
        """Install the catalogue connector called ``name`` (body ``{}`` unless given)."""
        connector_id = self.sandbox.connector_by_name(name)["Id"]
        return self.post(
            f"/v1.0/connectors/{connector_id}/install", account=account, json={} if body is None else body
        )

    def close(self) -> None:
        self.session.close()


@pytest.fixture
def http(cyclr_sandbox: CyclrSandbox) -> Iterator[Http]:
    client = Http(cyclr_sandbox)
    yield client
    client.close()

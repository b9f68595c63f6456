"""Fixtures for the Cyclr client tests: a scripted server and clients aimed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.cyclr import CyclrClient
from tests.cyclr.scripted_server import ScriptedServer

CLIENT_ID = "partner-client-id"
CLIENT_SECRET = "s3cr3t-CLIENT-value"

MakeClient = Callable[..., CyclrClient]


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Build clients (closed after the test); short timeouts keep failing tests fast."""
    made: list[CyclrClient] = []

    def build(api_url: str, **kwargs: Any) -> CyclrClient:
        kwargs.setdefault("client_id", CLIENT_ID)
        kwargs.setdefault("client_secret", CLIENT_SECRET)
        kwargs.setdefault("timeout", (1.0, 2.0))
        client = CyclrClient(api_url=api_url, **kwargs)
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture
def client(server: ScriptedServer, make_client: MakeClient) -> CyclrClient:
    return make_client(server.url)

"""build_oauth_url: every value percent-encoded, bad inputs refused."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bot.cyclr.links import build_oauth_url, normalize_base_url

TOKEN = "ab+c/d=e&f g"
TARGET = "https://bot.example.com/authorised/r1?x=1&y=two"


def test_values_are_encoded_and_round_trip() -> None:
    url = build_oauth_url(
        "https://acme-h.cyclr.com/", account_connector_id=54321, token=TOKEN, target_origin=TARGET
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://acme-h.cyclr.com/connectorauth/updateaccountconnectoroauth"
    )
    assert parts.query == (
        "id=54321&token=ab%2Bc%2Fd%3De%26f%20g"
        "&targetOrigin=https%3A%2F%2Fbot.example.com%2Fauthorised%2Fr1%3Fx%3D1%26y%3Dtwo"
    )
    assert parse_qs(parts.query) == {"id": ["54321"], "token": [TOKEN], "targetOrigin": [TARGET]}
    assert "callbackMessage" not in url


def test_callback_message_is_optional_and_encoded() -> None:
    url = build_oauth_url(
        "https://acme-h.cyclr.com", account_connector_id=7, token="t", target_origin="https://x.example",
        callback_message="done & dusted",
    )
    assert url.endswith("&callbackMessage=done%20%26%20dusted")


def test_service_path_prefix_is_kept() -> None:
    url = build_oauth_url(
        "http://localhost:8080/cyclr", account_connector_id=1, token="t", target_origin="http://localhost"
    )
    assert url.startswith("http://localhost:8080/cyclr/connectorauth/updateaccountconnectoroauth?id=1&")


@pytest.mark.parametrize(
    "service_url",
    ["", "acme-h.cyclr.com", "ftp://acme-h.cyclr.com", "https://", "https://acme?x=1", "https://a#f",
     "https://u:p@acme-h.cyclr.com", "https://acme:notaport"],
)
def test_bad_service_url_is_refused(service_url: str) -> None:
    with pytest.raises(ValueError, match="Cyclr service URL"):
        build_oauth_url(service_url, account_connector_id=1, token="t", target_origin="https://x.example")


@pytest.mark.parametrize("connector_id", [0, -3, True])
def test_bad_account_connector_id_is_refused(connector_id: int) -> None:
    with pytest.raises(ValueError, match="account_connector_id"):
        build_oauth_url("https://a.example", account_connector_id=connector_id, token="t",
                        target_origin="https://x.example")


def test_empty_token_and_relative_target_are_refused() -> None:
    with pytest.raises(ValueError, match="token"):
        build_oauth_url("https://a.example", account_connector_id=1, token="", target_origin="https://x.example")
    with pytest.raises(ValueError, match="target_origin"):
        build_oauth_url("https://a.example", account_connector_id=1, token="t", target_origin="/done")


def test_normalize_base_url_error_never_echoes_the_query() -> None:
    with pytest.raises(ValueError) as info:
        normalize_base_url("https://api.example?secret=abc", what="Cyclr API URL")
    assert "abc" not in str(info.value)
    assert normalize_base_url(" https://api.eu.cyclr.com/ ") == "https://api.eu.cyclr.com"


def test_package_exports_what_it_lists() -> None:
    import bot.cyclr as package

    assert sorted(package.__all__) == sorted(set(package.__all__))
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert missing == []
    public = {name for name in vars(package) if not name.startswith("_")} - {
        "auth", "client", "errors", "links", "models", "sandbox"
    }
    assert public == set(package.__all__)

"""Browser URLs on Cyclr's partner service domain (not the API domain)."""

from __future__ import annotations

from urllib.parse import quote, urlencode, urlsplit

__all__ = ["OAUTH_PATH", "build_oauth_url", "normalize_base_url"]

#: Cyclr's page that runs a third party's OAuth sign-in for one account connector.
OAUTH_PATH = "/connectorauth/updateaccountconnectoroauth"


def normalize_base_url(value: str, *, what: str = "URL") -> str:
    """Check ``value`` is an absolute http(s) URL with a host; return it without a trailing ``/``.

    A path prefix is kept (private instances may serve under one); a query string or a
    fragment is refused because paths are appended to the result.

    Raises:
        ValueError: naming ``what`` and the problem (never echoing a query string).
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is empty")
    text = value.strip()
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise ValueError(f"{what} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"{what} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"{what} has no host name")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ValueError(f"{what} must not have a query string or fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{what} must not contain credentials")
    return text.rstrip("/")


def build_oauth_url(
    service_url: str,
    *,
    account_connector_id: int,
    token: str,
    target_origin: str,
    callback_message: str | None = None,
) -> str:
    """Cyclr's OAuth sign-in URL for an installed connector.

    Args:
        service_url: The partner service domain, e.g. ``https://acme-h.cyclr.com``.
        account_connector_id: The *account connector* id (the install answer's ``Id``).
        token: A one-time sign-in token (single use, about five minutes).
        target_origin: Where Cyclr sends the browser when done (or the ``postMessage``
            origin when ``callback_message`` is given).
        callback_message: Leave out to get a redirect to ``target_origin``.

    Every value is percent-encoded (``quote``, so a space is ``%20`` and ``+``, ``/``, ``=``
    and ``&`` in a token survive).

    Raises:
        ValueError: a bad service URL, id, token or target.
    """
    base = normalize_base_url(service_url, what="Cyclr service URL")
    if isinstance(account_connector_id, bool) or not isinstance(account_connector_id, int):
        raise ValueError("account_connector_id must be an int")
    if account_connector_id <= 0:
        raise ValueError("account_connector_id must be positive")
    if not token:
        raise ValueError("token is empty")
    target = urlsplit(target_origin) if target_origin else None
    if target is None or target.scheme.lower() not in ("http", "https") or not target.hostname:
        raise ValueError("target_origin must be an absolute http(s) URL")
    params: list[tuple[str, str]] = [
        ("id", str(account_connector_id)),
        ("token", token),
        ("targetOrigin", target_origin),
    ]
    if callback_message is not None:
        params.append(("callbackMessage", callback_message))
    return f"{base}{OAUTH_PATH}?{urlencode(params, quote_via=quote, safe='')}"

"""Error details as Cyclr sends them: the raw third-party response and request, secrets included.

Cyclr's ``Detail`` (webhook) and ``FullMessage`` (incidents API) hold the response the
third party gave and the HTTP request Cyclr made, headers and all (cyclr-api.md §9.3)::

    404 Item not found\\r\\n{"Code":200,...}\\r\\n\\r\\n\\r\\nHTTP Request:\\r\\nGET https://... HTTP/1.1

So a detail can carry bearer tokens, API-key headers, Basic credentials, tokens in query
strings, passwords in JSON, form or XML bodies, cookies and credentials in URLs. The
sandbox makes such details on purpose, varied by the connector's auth type and drawn from
a seeded random generator, and reports which secrets it planted so a test can check that
none of them reaches Slack or a log.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["AUTH_FAILURE", "ErrorDetail", "make_detail"]

AUTH_FAILURE = "Failed to authenticate the connector"
_CRLF = "\r\n"


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """A step failure: Cyclr's short ``message``, the raw ``detail`` and the secrets inside it.

    Each of ``secrets`` appears in ``detail`` exactly as written there (a Basic password
    only inside its base64 ``Authorization`` header, so the header value is the secret).
    """

    message: str
    detail: str
    secrets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Exchange:
    status: int
    reason: str
    response_body: str
    method: str
    url: str
    request_headers: Sequence[tuple[str, str]]
    request_body: str = ""
    response_headers: Sequence[tuple[str, str]] = ()
    secrets: tuple[str, ...] = ()

    def render(self) -> str:
        head = [f"{self.status} {self.reason}", *(f"{k}: {v}" for k, v in self.response_headers)]
        request = [
            "HTTP Request:",
            f"{self.method} {self.url} HTTP/1.1",
            *(f"{k}: {v}" for k, v in self.request_headers),
            "User-Agent: Cyclr",
            "User-Agent: (https://cyclr.com)",
        ]
        text = _CRLF.join(head) + _CRLF + self.response_body + _CRLF * 3 + _CRLF.join(request)
        if self.request_body:
            text += _CRLF * 2 + self.request_body
        return text


def _chars(rng: random.Random, alphabet: str, size: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(size))


def _alnum(rng: random.Random, size: int) -> str:
    return _chars(rng, string.ascii_letters + string.digits, size)


def _hex(rng: random.Random, size: int) -> str:
    return _chars(rng, "0123456789abcdef", size)


def _jwt(rng: random.Random) -> str:
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","typ":"JWT"}').decode().rstrip("=")
    return f"{header}.{_alnum(rng, 86)}.{_chars(rng, string.ascii_letters + string.digits + '-_', 43)}"


def _password(rng: random.Random) -> str:
    word = rng.choice(("Summer", "Harbour", "Tangerine", "Falcon", "Meadow", "Copper"))
    return f"{word}{rng.randint(1970, 2029)}{rng.choice('!#$%&*?')}{_alnum(rng, 4)}"


def _host(connector: Mapping[str, Any]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "", str(connector.get("Name") or "api").lower().replace(".com", ""))
    return f"{slug or 'api'}.com"


def _id(rng: random.Random) -> str:
    return str(rng.randint(10_000, 9_999_999))


# -- the exchanges: each takes (rng, host) ------------------------------------------------


def _bearer_expired(rng: random.Random, host: str) -> _Exchange:
    token = _jwt(rng)
    body = json.dumps({"error": "invalid_token", "error_description": "The access token expired"})
    return _Exchange(
        401,
        "Unauthorized",
        body,
        "GET",
        f"https://api.{host}/v2/contacts?limit=100&updatedAfter=2024-05-01T00%3A00%3A00Z",
        [("Accept", "application/json"), ("Authorization", f"Bearer {token}")],
        response_headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
        secrets=(token,),
    )


def _refresh_revoked(rng: random.Random, host: str) -> _Exchange:
    client_secret, refresh = _alnum(rng, 40), f"1//0{_alnum(rng, 60)}"
    form = (
        f"grant_type=refresh_token&client_id={_hex(rng, 24)}"
        f"&client_secret={client_secret}&refresh_token={refresh}"
    )
    body = json.dumps({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    return _Exchange(
        400,
        "Bad Request",
        body,
        "POST",
        f"https://login.{host}/oauth2/token",
        [("Accept", "application/json"), ("Content-Type", "application/x-www-form-urlencoded")],
        request_body=form,
        secrets=(client_secret, refresh),
    )


def _api_key_refused(rng: random.Random, host: str) -> _Exchange:
    key = _hex(rng, 32)
    body = json.dumps({"message": "Invalid API key provided.", "code": "unauthorized"})
    return _Exchange(
        403,
        "Forbidden",
        body,
        "GET",
        f"https://api.{host}/v3/lists/{_hex(rng, 10)}/members?count=500",
        [("Accept", "application/json"), ("X-Api-Key", key)],
        secrets=(key,),
    )


def _token_header_refused(rng: random.Random, host: str) -> _Exchange:
    token, session = _alnum(rng, 40), _hex(rng, 48)
    return _Exchange(
        401,
        "Unauthorized",
        '{"errors":[{"status":"401","title":"Unauthorized","detail":"Invalid token"}]}',
        "GET",
        f"https://{host}/api/v1/tickets/{_id(rng)}",
        [("Accept", "application/vnd.api+json"), ("Authorization", f'Token token="{token}"')],
        response_headers=[("Set-Cookie", f"_session_id={session}; path=/; secure; HttpOnly")],
        secrets=(token, session),
    )


def _basic_refused(rng: random.Random, host: str) -> _Exchange:
    user, password = f"integration@{host}", _password(rng)
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return _Exchange(
        401,
        "Unauthorized",
        '{"error":"Couldn\'t authenticate you"}',
        "GET",
        f"https://acme.{host}/api/v2/users/me.json",
        [("Accept", "application/json"), ("Authorization", f"Basic {encoded}")],
        response_headers=[("WWW-Authenticate", 'Basic realm="Web Password"')],
        secrets=(encoded,),
    )


def _query_key_not_found(rng: random.Random, host: str) -> _Exchange:
    key, order = _alnum(rng, 32), _id(rng)
    body = json.dumps({"errors": [{"code": "not_found", "detail": f"Order {order} was not found"}]})
    return _Exchange(
        404,
        "Not Found",
        body,
        "GET",
        f"https://{host}/api/v1/orders/{order}?api_key={key}&format=json",
        [("Accept", "application/json")],
        secrets=(key,),
    )


def _basic_server_error(rng: random.Random, host: str) -> _Exchange:
    password = _password(rng)
    encoded = base64.b64encode(f"svc-cyclr:{password}".encode()).decode()
    page = (
        "<html><head><title>500 Internal Server Error</title></head>"
        "<body><h1>Internal Server Error</h1></body></html>"
    )
    record = {"summary": "Printer on fire", "priority": "high", "reporter": "ops@example.com"}
    return _Exchange(
        500,
        "Internal Server Error",
        page,
        "POST",
        f"https://{host}/rest/api/2/issue",
        [
            ("Accept", "application/json"),
            ("Content-Type", "application/json"),
            ("Authorization", f"Basic {encoded}"),
        ],
        request_body=json.dumps({"fields": record}),
        secrets=(encoded,),
    )


def _json_password_invalid(rng: random.Random, host: str) -> _Exchange:
    password, key = _password(rng), f"sk_live_{_alnum(rng, 24)}"
    body = json.dumps({"errors": {"email": ["has already been taken"]}})
    request = {"user": {"email": "jo@example.com", "name": "Jo Bloggs", "password": password}}
    return _Exchange(
        422,
        "Unprocessable Entity",
        body,
        "POST",
        f"https://api.{host}/v1/users",
        [("Content-Type", "application/json"), ("Authorization", f"Bearer {key}")],
        request_body=json.dumps(request),
        secrets=(password, key),
    )


def _userinfo_bad_gateway(rng: random.Random, host: str) -> _Exchange:
    password = _password(rng)
    return _Exchange(
        502,
        "Bad Gateway",
        "<html><body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>",
        "GET",
        f"https://exports:{password}@files.{host}/exports/daily-{_id(rng)}.csv",
        [("Accept", "text/csv")],
        secrets=(password,),
    )


def _query_token_rate_limited(rng: random.Random, host: str) -> _Exchange:
    token = f"EAAB{_alnum(rng, 150)}"
    body = json.dumps(
        {"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}
    )
    return _Exchange(
        429,
        "Too Many Requests",
        body,
        "GET",
        f"https://graph.{host}/v19.0/{_id(rng)}/leads?access_token={token}&fields=created_time,field_data",
        [("Accept", "application/json")],
        response_headers=[("Retry-After", "60")],
        secrets=(token,),
    )


def _custom_header_conflict(rng: random.Random, host: str) -> _Exchange:
    token, cookie = f"shpat_{_hex(rng, 32)}", _alnum(rng, 32)
    body = json.dumps({"errors": {"email": ["has already been taken"], "phone": ["is invalid"]}})
    return _Exchange(
        409,
        "Conflict",
        body,
        "PUT",
        f"https://acme.{host}/admin/api/2024-01/customers/{_id(rng)}.json",
        [
            ("Content-Type", "application/json"),
            ("X-Shopify-Access-Token", token),
            ("Cookie", f"_secure_session_id={cookie}; _y=1"),
        ],
        request_body=json.dumps({"customer": {"tags": "vip, newsletter", "phone": "+44 7700 900123"}}),
        secrets=(token, cookie),
    )


def _soap_password_fault(rng: random.Random, host: str) -> _Exchange:
    password, token_secret = _password(rng), _hex(rng, 64)
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>'
        f"<passport><email>sync@{host}</email><password>{password}</password><account>TSTDRV{_id(rng)}</account>"
        f"<tokenSecret>{token_secret}</tokenSecret></passport></soapenv:Header><soapenv:Body><add>"
        "<record><entityId>Acme Ltd</entityId></record></add></soapenv:Body></soapenv:Envelope>"
    )
    fault = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        "<soapenv:Fault><faultcode>soapenv:Server.userException</faultcode>"
        "<faultstring>You have entered an invalid field value for the field: subsidiary</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return _Exchange(
        500,
        "Internal Server Error",
        fault,
        "POST",
        f"https://webservices.{host}/services/soap/v2",
        [("Content-Type", "text/xml; charset=utf-8"), ("SOAPAction", '"urn:add"')],
        request_body=envelope,
        secrets=(password, token_secret),
    )


def _api_token_validation(rng: random.Random, host: str) -> _Exchange:
    token, auth = _hex(rng, 72), _alnum(rng, 36)
    error = {"title": "Email is not valid", "source": {"pointer": "/data/attributes/email"}}
    body = json.dumps({"errors": [error]})
    return _Exchange(
        400,
        "Bad Request",
        body,
        "POST",
        f"https://acme.api-us1.{host}/api/3/contacts",
        [("Content-Type", "application/json"), ("Api-Token", token), ("X-Auth-Token", auth)],
        request_body=json.dumps({"contact": {"email": "not-an-email", "firstName": "Jo"}}),
        secrets=(token, auth),
    )


def _empty_result_warning(rng: random.Random, host: str) -> _Exchange:
    key = f"key-{_alnum(rng, 28)}"
    return _Exchange(
        200,
        "OK",
        '{"data":[],"has_more":false}',
        "GET",
        f"https://api.{host}/v1/records?modified_since=2024-05-01&apikey={key}",
        [("Accept", "application/json")],
        secrets=(key,),
    )


Shape = Callable[[random.Random, str], _Exchange]

# Exchanges per auth type: auth failures, other errors, and warnings.
_AUTH_FAILURES: Mapping[str, Sequence[Shape]] = {
    "oauth": (_bearer_expired, _refresh_revoked),
    "apikey": (_api_key_refused, _token_header_refused),
    "basic": (_basic_refused,),
    "other": (_bearer_expired, _api_key_refused, _basic_refused, _token_header_refused),
}
_ERRORS: Mapping[str, Sequence[Shape]] = {
    "oauth": (_json_password_invalid, _query_token_rate_limited, _custom_header_conflict, _bearer_expired),
    "apikey": (_query_key_not_found, _api_token_validation, _custom_header_conflict),
    "basic": (_basic_server_error, _userinfo_bad_gateway, _soap_password_fault),
    "other": (_query_key_not_found, _userinfo_bad_gateway, _soap_password_fault, _json_password_invalid),
}
_WARNINGS: Sequence[Shape] = (_empty_result_warning, _query_key_not_found, _api_token_validation)

_ERROR_MESSAGES = {
    429: "The third party's rate limit was reached; the step will be retried",
    500: "The third party's API returned an error",
    502: "The third party's API could not be reached",
}
_WARNING_MESSAGES = (
    "The step returned no data",
    "A field mapping was skipped because its value was empty",
    "The record was skipped because it failed validation",
)


def _auth_family(connector: Mapping[str, Any]) -> str:
    auth_type = str(connector.get("AuthType") or "").strip().lower()
    if auth_type in ("oauth1", "oauth2", "netsuiteoauth1"):
        return "oauth"
    if auth_type in ("apikey", "basic"):
        return auth_type
    return "other"


def make_detail(
    rng: random.Random, connector: Mapping[str, Any], *, level: str = "Error", auth_failure: bool = False
) -> ErrorDetail:
    """A Cyclr-like failure of a step calling ``connector`` (a catalogue entry)."""
    family = _auth_family(connector)
    if level == "Warning":
        exchange = rng.choice(_WARNINGS)(rng, _host(connector))
        message = rng.choice(_WARNING_MESSAGES)
    elif auth_failure:
        exchange = rng.choice(_AUTH_FAILURES[family])(rng, _host(connector))
        message = AUTH_FAILURE
    else:
        exchange = rng.choice(_ERRORS[family])(rng, _host(connector))
        message = _ERROR_MESSAGES.get(exchange.status, "Failed to call the method")
    return ErrorDetail(message, exchange.render(), exchange.secrets)

"""Cyclr's HTTP API over a :class:`SandboxState`: routing, bearer auth, account header, paging.

Behaviour follows cyclr-api.md: ``POST /oauth/token`` (client credentials, OWIN-style
errors), ``/v1.0/...`` with ``Authorization: Bearer`` and, for account-level calls,
``X-Cyclr-Account``; bare JSON arrays paged by ``page`` (1-based) and ``pageSize``
(default 50, silently clamped to 100); errors as ``{"Message": ...}``. Routes match
case-insensitively, ignore a trailing slash and answer 405 for a known path with the
wrong method, as ASP.NET Web API does.

Served: the connector catalogue and installs (§2), accounts with their error webhook
settings (§2.6), templates, cycles, prerequisites, activation and incidents (§9).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

from .apierror import ApiError
from .pages import CONNECTORAUTH_PATH, authorise_get, authorise_post
from .state import SandboxState
from .wire import Request, Response

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "NOT_FOUND_MESSAGE", "ApiSettings", "CyclrApi"]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
NOT_FOUND_MESSAGE = "No HTTP resource was found that matches the request URI"
DENIED_MESSAGE = "Authorization has been denied for this request."

T = TypeVar("T")
Scope = Literal["public", "partner", "account", "any"]
Domain = Literal["api", "service"]


@dataclass(slots=True)
class ApiSettings:
    """Knobs a test may turn while the server runs."""

    page_headers: bool = True
    install_latency: float = 0.0
    api_latency: float = 0.0  #: a network round trip, added to every API call


@dataclass(frozen=True, slots=True)
class _Call:
    request: Request
    match: re.Match[str]
    account_id: str | None

    def account(self) -> str:
        if self.account_id is None:  # routes with scope "account" always have one
            raise ApiError(400, "The X-Cyclr-Account header is required for this request.")
        return self.account_id


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[_Call], Response]
    scope: Scope
    domain: Domain = "api"


def _route(
    method: str, template: str, handler: Callable[[_Call], Response], scope: Scope, domain: Domain = "api"
) -> _Route:
    """A route from a path template whose ``{name}`` parts match one path segment."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(f"(?P<{p}>[^/]+)" if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return _Route(method, re.compile(regex, re.IGNORECASE), handler, scope, domain)


def _json_body(request: Request) -> Any:
    """The body as JSON; ``None`` for an empty body or ``null``; 400 when it is not JSON."""
    if not request.body.strip():
        return None
    try:
        return json.loads(request.body)
    except ValueError as exc:
        raise ApiError(400, "The request is invalid.") from exc


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.param(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(400, "The request is invalid.") from exc


def _id(call: _Call, group: str = "id") -> int:
    try:
        return int(call.match.group(group))
    except ValueError as exc:
        raise ApiError(400, "The request is invalid.") from exc


class CyclrApi:
    """Turns a :class:`Request` into a :class:`Response`, applying it to the state."""

    def __init__(self, state: SandboxState, settings: ApiSettings, wait: Callable[[float], object]) -> None:
        self.state = state
        self.settings = settings
        self._wait = wait
        self.api_host: str | None = None
        self.service_host: str | None = None
        v1 = "/v1.0"
        self._routes: Sequence[_Route] = [
            _route("POST", "/oauth/token", self._token, "public"),
            _route("GET", f"{v1}/connectors", self._list_connectors, "any"),
            _route("GET", f"{v1}/connectors/{{ref}}", self._get_connector, "any"),
            _route("GET", f"{v1}/connectors/{{ref}}/{{version}}", self._get_version, "any"),
            _route("POST", f"{v1}/connectors/{{ref}}/install", self._install, "account"),
            _route("GET", f"{v1}/account/connectors", self._list_installed, "account"),
            _route("GET", f"{v1}/account/connectors/{{id}}", self._get_installed, "account"),
            _route("PUT", f"{v1}/account/connectors/{{id}}", self._put_installed, "account"),
            _route("DELETE", f"{v1}/account/connectors/{{id}}", self._delete_installed, "account"),
            _route("PUT", f"{v1}/account/connectors/{{id}}/deauthenticate", self._deauth, "account"),
            _route("GET", f"{v1}/templates", self._list_templates, "any"),
            _route("GET", f"{v1}/templates/{{id}}", self._get_template, "any"),
            _route("POST", f"{v1}/templates/{{id}}/install", self._install_template, "account"),
            _route("GET", f"{v1}/cycles", self._list_cycles, "account"),
            _route("GET", f"{v1}/cycles/incidents/{{level}}", self._list_incidents, "account"),
            _route("GET", f"{v1}/cycles/{{id}}", self._get_cycle, "account"),
            _route("PUT", f"{v1}/cycles/{{id}}", self._put_cycle, "account"),
            _route("GET", f"{v1}/cycles/{{id}}/steps", self._cycle_steps, "account"),
            _route("GET", f"{v1}/cycles/{{id}}/prerequisites", self._prerequisites, "account"),
            _route("GET", f"{v1}/cycles/{{id}}/incidents", self._cycle_incidents, "account"),
            _route("PUT", f"{v1}/cycles/{{id}}/activate", self._activate, "account"),
            _route("PUT", f"{v1}/cycles/{{id}}/deactivate", self._deactivate, "account"),
            _route("GET", f"{v1}/accounts", self._list_accounts, "partner"),
            _route("GET", f"{v1}/accounts/{{account}}", self._get_account, "partner"),
            _route("PUT", f"{v1}/accounts/{{account}}", self._put_account, "partner"),
            _route("POST", f"{v1}/accounts/{{account}}/signintoken", self._signin, "partner"),
            _route("GET", CONNECTORAUTH_PATH, lambda c: authorise_get(state, c.request), "public", "service"),
            _route(
                "POST", CONNECTORAUTH_PATH, lambda c: authorise_post(state, c.request), "public", "service"
            ),
        ]

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request; business refusals become ``{"Message": ...}`` responses."""
        if self.settings.api_latency > 0:
            self._wait(self.settings.api_latency)
        path = request.path.rstrip("/") or "/"
        matches = [(route, m) for route in self._routes if (m := route.pattern.fullmatch(path)) is not None]
        if not matches:
            return Response.message(404, NOT_FOUND_MESSAGE)
        for route, match in matches:
            if route.method == request.method:
                if not self._on_its_domain(route, request.host):
                    return Response.message(404, NOT_FOUND_MESSAGE)
                try:
                    return self._run(route, request, match)
                except ApiError as exc:
                    return Response.message(exc.status, exc.message)
        return Response.message(
            405, f"The requested resource does not support http method '{request.method}'."
        )

    def _on_its_domain(self, route: _Route, host: str) -> bool:
        """API routes on the API host, link pages on the service host (any route on other hosts)."""
        if self.api_host is None or self.service_host is None or self.api_host == self.service_host:
            return True
        if host not in (self.api_host, self.service_host):
            return True
        return host == (self.api_host if route.domain == "api" else self.service_host)

    def _run(self, route: _Route, request: Request, match: re.Match[str]) -> Response:
        if route.scope != "public":
            scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not self.state.access_token_valid(token.strip()):
                return Response.message(401, DENIED_MESSAGE, {"WWW-Authenticate": "Bearer"})
        account_id = (request.header("X-Cyclr-Account") or "").strip() or None
        if route.scope == "partner":
            account_id = None
        elif route.scope == "account" and account_id is None:
            raise ApiError(400, "The X-Cyclr-Account header is required for this request.")
        if account_id is not None:
            self.state.account(account_id)  # 404 for an unknown account
        return route.handler(_Call(request, match, account_id))

    def _paged(self, call: _Call, items: Sequence[T]) -> Response:
        page = max(_int_param(call.request, "page", 1), 1)
        size = min(max(_int_param(call.request, "pageSize", DEFAULT_PAGE_SIZE), 1), MAX_PAGE_SIZE)
        start = (page - 1) * size
        headers = {}
        if self.settings.page_headers:
            headers = {"Total-Pages": str(math.ceil(len(items) / size)), "Total-Records": str(len(items))}
        return Response.json(200, list(items[start : start + size]), headers)

    # -- partner token ----------------------------------------------------------------------

    def _token(self, call: _Call) -> Response:
        request = call.request
        form: dict[str, str] = {}
        if (request.header("Content-Type") or "").lower().startswith("application/x-www-form-urlencoded"):
            for key, value in parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True):
                form.setdefault(key, value)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = (request.header("Authorization") or "").partition(" ")
        if client_id is None and scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(encoded.strip()).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                client_id = None
        no_cache = {"Cache-Control": "no-cache", "Pragma": "no-cache"}
        if not self.state.credentials_match(client_id, client_secret):
            return Response.json(400, {"error": "invalid_client"}, no_cache)
        if form.get("grant_type") != "client_credentials":
            return Response.json(400, {"error": "unsupported_grant_type"}, no_cache)
        return Response.json(200, self.state.issue_access_token(), no_cache)

    # -- catalogue ----------------------------------------------------------------------------

    def _list_connectors(self, call: _Call) -> Response:
        request = call.request
        items = self.state.connectors(
            query=request.param("query"),
            category=request.param("category"),
            order_by=request.param("orderBy"),
            ascending=(request.param("sortOrderAsc") or "true").strip().lower() != "false",
        )
        return self._paged(call, items)

    def _get_connector(self, call: _Call) -> Response:
        ref = call.match.group("ref")
        if ref.isdigit():
            return Response.json(200, self.state.connector(int(ref)))
        return Response.json(200, self.state.connectors_named(ref))  # by name: an array, as Cyclr does

    def _get_version(self, call: _Call) -> Response:
        return Response.json(
            200, self.state.connectors_named(call.match.group("ref"), call.match.group("version"))
        )

    def _install(self, call: _Call) -> Response:
        ref = call.match.group("ref")
        if ref.isdigit():
            connector = self.state.connector(int(ref))
        else:
            named = self.state.connectors_named(ref)
            if not named:
                raise ApiError(404, f"Connector '{ref}' not found.")
            connector = named[0]
        body = _json_body(call.request)
        if self.settings.install_latency > 0:
            self._wait(self.settings.install_latency)
        return Response.json(200, self.state.install(call.account(), connector, body))

    # -- installed connectors -------------------------------------------------------------------

    def _list_installed(self, call: _Call) -> Response:
        return self._paged(call, self.state.account_connectors(call.account()))

    def _get_installed(self, call: _Call) -> Response:
        return Response.json(200, self.state.account_connector(call.account(), _id(call)))

    def _put_installed(self, call: _Call) -> Response:
        body = _json_body(call.request)
        return Response.json(200, self.state.update_account_connector(call.account(), _id(call), body))

    def _delete_installed(self, call: _Call) -> Response:
        self.state.delete_account_connector(call.account(), _id(call))
        return Response.empty(200)

    def _deauth(self, call: _Call) -> Response:
        return Response.message(200, self.state.deauthenticate(call.account(), _id(call)))

    # -- templates and cycles ------------------------------------------------------------------

    def _list_templates(self, call: _Call) -> Response:
        request = call.request
        items = self.state.templates(
            order_by=request.param("orderBy"),
            ascending=(request.param("sortOrderAsc") or "true").strip().lower() != "false",
        )
        return self._paged(call, items)

    def _get_template(self, call: _Call) -> Response:
        return Response.json(200, self.state.template(call.match.group("id")))

    def _install_template(self, call: _Call) -> Response:
        template_id = call.match.group("id")
        self.state.template(template_id)  # 404 before the install's latency, as for connectors
        if self.settings.install_latency > 0:
            self._wait(self.settings.install_latency)
        return Response.json(200, self.state.install_template(call.account(), template_id))

    def _list_cycles(self, call: _Call) -> Response:
        return self._paged(call, self.state.cycles(call.account()))

    def _get_cycle(self, call: _Call) -> Response:
        return Response.json(200, self.state.cycle(call.account(), call.match.group("id")))

    def _put_cycle(self, call: _Call) -> Response:
        body = _json_body(call.request)
        return Response.json(200, self.state.update_cycle(call.account(), call.match.group("id"), body))

    def _cycle_steps(self, call: _Call) -> Response:
        return Response.json(200, self.state.cycle_steps(call.account(), call.match.group("id")))

    def _prerequisites(self, call: _Call) -> Response:
        return Response.json(200, self.state.prerequisites(call.account(), call.match.group("id")))

    def _activate(self, call: _Call) -> Response:
        self.state.activate_cycle(call.account(), call.match.group("id"), _json_body(call.request))
        return Response.empty(200)

    def _deactivate(self, call: _Call) -> Response:
        raw = (call.request.param("finishQueuedTransactions") or "true").strip().lower()
        if raw not in ("true", "false"):
            raise ApiError(400, "The request is invalid.")
        self.state.deactivate_cycle(call.account(), call.match.group("id"), finish_queued=raw == "true")
        return Response.empty(200)

    def _incidents(self, call: _Call, *, level: str | None, cycle_id: str | None) -> Response:
        request = call.request
        items = self.state.incidents(
            call.account(),
            level=level,
            cycle_id=cycle_id,
            after=request.param("after"),
            before=request.param("before"),
            ascending=(request.param("sortOrderAsc") or "true").strip().lower() != "false",
        )
        return self._paged(call, items)

    def _list_incidents(self, call: _Call) -> Response:
        level = call.match.group("level").lower()
        if level not in ("error", "warning"):
            return Response.message(404, NOT_FOUND_MESSAGE)
        return self._incidents(call, level=level, cycle_id=None)

    def _cycle_incidents(self, call: _Call) -> Response:
        return self._incidents(call, level=None, cycle_id=call.match.group("id"))

    # -- accounts and sign-in tokens ------------------------------------------------------------

    def _list_accounts(self, call: _Call) -> Response:
        return self._paged(call, self.state.accounts())

    def _get_account(self, call: _Call) -> Response:
        return Response.json(200, self.state.account(call.match.group("account")))

    def _put_account(self, call: _Call) -> Response:
        body = _json_body(call.request)
        return Response.json(200, self.state.update_account(call.match.group("account"), body))

    def _signin(self, call: _Call) -> Response:
        body = _json_body(call.request)
        return Response.json(200, self.state.mint_signin_token(call.match.group("account"), body))

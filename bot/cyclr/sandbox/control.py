"""The sandbox's control API: what a trial or a test does *to* the sandbox, beside Cyclr's API.

Every control is a Python method of :class:`SandboxControls` (also on ``CyclrSandbox``) and
an HTTP route under ``/_sandbox`` on the sandbox's own port. The routes take and give JSON
(snake_case keys, unlike Cyclr's), need no token, answer only clients on the loopback
interface (403 for any other), and are never faulted, delayed or recorded: they are not
Cyclr. Errors come back as ``{"message": "..."}`` with 400, 403, 404 or 405.

``GET  /_sandbox``
    What is here: the routes, the accounts and the API and service URLs.
``GET  /_sandbox/settings``, ``PUT /_sandbox/settings``
    ``{"api_latency": 0.5, "install_latency": 0, "page_headers": true}``: any of them;
    the answer is the settings after the change. ``api_latency`` is the seconds every
    Cyclr API call waits before it is answered.
``POST /_sandbox/accounts/{account}/connectors/{id}/lose-auth``
    The installed connector stops being authenticated (a revoked token, a rotated key).
    Answers the account connector as Cyclr shows it.
``POST /_sandbox/accounts/{account}/cycles/{cycle}/incidents``
    ``{"level": "error", "count": 1, "auth_failure": false, "message": null,
    "account_connector_id": null}`` (all optional): fail ``count`` (1-1000) transactions of
    the cycle. ``auth_failure`` gives Cyclr's "Failed to authenticate the connector";
    ``account_connector_id`` picks the steps that call that connector. Each incident is
    listed by ``GET /v1.0/cycles/incidents/error|warning``, counts in the cycle's
    ``ErrorCount``/``WarningCount`` and, when the account's transaction error webhook is
    enabled (warnings only with ``IncludeWarnings``), is POSTed to its URL in the background.
    Answers ``{"incidents": [...], "secrets": [...], "webhook_calls": n}``: ``secrets`` are
    the credentials planted in the incidents' detail, for redaction tests.
``POST /_sandbox/accounts/{account}/cycles/{cycle}/runs``
    A successful run now (``LastSuccessfulRunDate``); answers the cycle.
``POST /_sandbox/accounts/{account}/cycles/{cycle}/resolve``
    Clear the prerequisites only the console could fix; answers the prerequisites left.
``GET  /_sandbox/webhooks``
    Every webhook call made so far: ``[{"url", "payload", "status", "error", "sent_at"}]``.

For example, from a shell next to ``cyclr-bot playground``::

    curl -X POST localhost:PORT/_sandbox/accounts/acme-prod/cycles/CYCLE/incidents \\
         -d '{"count": 3, "auth_failure": true}'
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from typing import Any

from .api import ApiSettings
from .apierror import ApiError
from .cycles import RaisedIncident
from .state import SandboxState
from .webhooks import WebhookDelivery, WebhookSender
from .wire import Request, Response

__all__ = ["CONTROL_PREFIX", "SandboxControls"]

CONTROL_PREFIX = "/_sandbox"
_MAX_LATENCY = 120.0

Handler = Callable[[Request, re.Match[str]], Response]


def _answer(status: int, data: Any) -> Response:
    return Response.json(status, data, {"Cache-Control": "no-store"})


def _refusal(status: int, message: str) -> Response:
    return _answer(status, {"message": message})


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _delivery(call: WebhookDelivery) -> dict[str, Any]:
    return {
        "url": call.url,
        "payload": call.payload,
        "status": call.status,
        "error": call.error,
        "sent_at": call.sent_at,
    }


def _body(request: Request) -> dict[str, Any]:
    """The JSON object sent; ``{}`` for an empty body."""
    if not request.body.strip():
        return {}
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        raise ApiError(400, "The body is not JSON.") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(400, f"{name} must be a number of seconds.")
    if not 0 <= value <= _MAX_LATENCY:
        raise ApiError(400, f"{name} must be between 0 and {_MAX_LATENCY:g} seconds.")
    return float(value)


def _optional(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise ApiError(400, f"{name} has the wrong type.")
    return value


class SandboxControls:
    """The controls, as methods and as the ``/_sandbox`` routes."""

    def __init__(
        self,
        state: SandboxState,
        settings: ApiSettings,
        webhooks: WebhookSender,
        describe: Callable[[], dict[str, Any]],
    ) -> None:
        self.state = state
        self.settings = settings
        self.webhooks = webhooks
        self._describe = describe
        segment = r"(?P<{}>[^/]+)"
        account, item, cycle = segment.format("account"), segment.format("id"), segment.format("cycle")
        base = re.escape(CONTROL_PREFIX)
        routes: list[tuple[str, str, Handler]] = [
            ("GET", "", self._index),
            ("GET", "/settings", self._get_settings),
            ("PUT", "/settings", self._put_settings),
            ("POST", f"/accounts/{account}/connectors/{item}/lose-auth", self._lose_auth),
            ("POST", f"/accounts/{account}/cycles/{cycle}/incidents", self._incidents),
            ("POST", f"/accounts/{account}/cycles/{cycle}/runs", self._runs),
            ("POST", f"/accounts/{account}/cycles/{cycle}/resolve", self._resolve),
            ("GET", "/webhooks", self._webhooks),
        ]
        self._routes = [(method, re.compile(base + path), handler) for method, path, handler in routes]

    # -- the controls ------------------------------------------------------------------------

    def lose_auth(self, account_id: str, account_connector_id: int) -> dict[str, Any]:
        """The installed connector is no longer authenticated; returns it as the API shows it."""
        self.state.set_authenticated(account_id, account_connector_id, False)
        return self.state.account_connector(account_id, account_connector_id)

    def raise_incidents(
        self,
        account_id: str,
        cycle_id: str,
        *,
        level: str = "error",
        count: int = 1,
        auth_failure: bool = False,
        message: str | None = None,
        account_connector_id: int | None = None,
    ) -> list[RaisedIncident]:
        """Raise incidents on a cycle (:meth:`SandboxState.raise_incidents`); queue their webhook calls."""
        raised = self.state.raise_incidents(
            account_id,
            cycle_id,
            level=level,
            count=count,
            auth_failure=auth_failure,
            message=message,
            account_connector_id=account_connector_id,
        )
        for item in raised:
            if item.webhook is not None:
                self.webhooks.send(*item.webhook)
        return raised

    # -- HTTP ------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if not _loopback(request.remote):
            return _refusal(403, "The sandbox's controls answer loopback clients only.")
        path = request.path.rstrip("/") or "/"
        matches = [
            (method, found, handler)
            for method, pattern, handler in self._routes
            if (found := pattern.fullmatch(path)) is not None
        ]
        if not matches:
            return _refusal(404, f"No sandbox control at {path}; GET {CONTROL_PREFIX} lists them.")
        for method, match, handler in matches:
            if method == request.method:
                try:
                    return handler(request, match)
                except ApiError as exc:
                    return _refusal(exc.status, exc.message)
        return _refusal(405, f"{request.method} is not allowed on {path}.")

    def _index(self, request: Request, match: re.Match[str]) -> Response:
        routes = [f"{method} {pattern.pattern.replace(chr(92), '')}" for method, pattern, _ in self._routes]
        return _answer(200, {**self._describe(), "routes": routes})

    def _settings(self) -> dict[str, Any]:
        return {
            "api_latency": self.settings.api_latency,
            "install_latency": self.settings.install_latency,
            "page_headers": self.settings.page_headers,
        }

    def _get_settings(self, request: Request, match: re.Match[str]) -> Response:
        return _answer(200, self._settings())

    def _put_settings(self, request: Request, match: re.Match[str]) -> Response:
        body = _body(request)
        unknown = sorted(set(body) - {"api_latency", "install_latency", "page_headers"})
        if unknown:
            raise ApiError(400, f"Unknown setting: {', '.join(unknown)}.")
        changes: dict[str, Any] = {}
        for name in ("api_latency", "install_latency"):
            if name in body:
                changes[name] = _seconds(name, body[name])
        if "page_headers" in body:
            if not isinstance(body["page_headers"], bool):
                raise ApiError(400, "page_headers must be true or false.")
            changes["page_headers"] = body["page_headers"]
        for name, value in changes.items():  # all checked first: a bad request changes nothing
            setattr(self.settings, name, value)
        return _answer(200, self._settings())

    def _lose_auth(self, request: Request, match: re.Match[str]) -> Response:
        try:
            account_connector_id = int(match.group("id"))
        except ValueError as exc:
            raise ApiError(404, f"Account connector {match.group('id')} not found.") from exc
        return _answer(200, self.lose_auth(match.group("account"), account_connector_id))

    def _incidents(self, request: Request, match: re.Match[str]) -> Response:
        body = _body(request)
        raised = self.raise_incidents(
            match.group("account"),
            match.group("cycle"),
            level=_optional(body, "level", str, "error"),
            count=_optional(body, "count", int, 1),
            auth_failure=_optional(body, "auth_failure", bool, False),
            message=_optional(body, "message", str, None),
            account_connector_id=_optional(body, "account_connector_id", int, None),
        )
        return _answer(
            200,
            {
                "incidents": [item.incident.to_api() for item in raised],
                "secrets": [secret for item in raised for secret in item.incident.secrets],
                "webhook_calls": sum(1 for item in raised if item.webhook is not None),
            },
        )

    def _runs(self, request: Request, match: re.Match[str]) -> Response:
        return _answer(200, self.state.record_success(match.group("account"), match.group("cycle")))

    def _resolve(self, request: Request, match: re.Match[str]) -> Response:
        return _answer(200, self.state.resolve_prerequisites(match.group("account"), match.group("cycle")))

    def _webhooks(self, request: Request, match: re.Match[str]) -> Response:
        return _answer(200, [_delivery(d) for d in self.webhooks.deliveries])

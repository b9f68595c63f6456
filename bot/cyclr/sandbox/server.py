"""``CyclrSandbox``: the Cyclr stand-in's lifecycle and the handles tests hold it by."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from .api import ApiSettings, CyclrApi
from .authvalue import AuthReceived
from .browser import LinkOutcome, click_through
from .clock import Clock, system_clock
from .control import CONTROL_PREFIX, SandboxControls
from .cycles import RaisedIncident
from .faults import FaultPlan
from .handler import SandboxHTTPServer
from .pages import CONNECTORAUTH_PATH
from .recording import RecordedRequest, RequestLog
from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxState
from .webhooks import WebhookDelivery, WebhookSender

__all__ = ["CyclrSandbox"]

_WILDCARD = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
_IPV4_LOOPBACK = ("127.0.0.1", "", "0.0.0.0")


class CyclrSandbox:
    """Cyclr's REST API and OAuth link pages, served over real HTTP on a local port.

    ``api_url`` is the API domain (``/oauth/token``, ``/v1.0/...``); ``service_url`` is the
    partner service domain (``/connectorauth/...``): the same server under another host
    name, and each kind of route answers only on its own name. ``clock`` drives every
    expiry (pass a :class:`~.clock.ManualClock` to test expiry without sleeping); the
    sleeps of ``install_latency`` and delay faults are real and end early on :meth:`stop`.

    ``catalogue`` replaces the shipped connectors (Cyclr connector objects; an ``Id`` is
    given to any without one). ``accounts`` replaces :data:`~.state.DEFAULT_ACCOUNTS`:
    mappings with ``Id``, ``Name`` and optional ``Description`` and ``Timezone``; the first
    is :attr:`default_account_id`. ``templates`` replaces the template library
    (:data:`~.templates.TEMPLATE_LIBRARY`, same shape); ``seed`` fixes the error details
    incidents get; ``webhook_timeout`` bounds each call of an account's error webhook.

    The controls for trials and tests (:meth:`lose_auth`, :meth:`raise_incidents`,
    :attr:`api_latency`...) are also served over HTTP under :attr:`control_url`
    (loopback clients only; see :mod:`.control`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token_ttl: float = 1_209_599,
        signin_ttl: float = 300,
        page_headers: bool = True,
        install_latency: float = 0.0,
        api_latency: float = 0.0,
        catalogue: Iterable[Mapping[str, Any]] | None = None,
        accounts: Iterable[Mapping[str, Any]] | None = None,
        templates: Iterable[Mapping[str, Any]] | None = None,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        clock: Clock = system_clock,
        seed: int = 0,
        webhook_timeout: float = 5.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._clock = clock
        self.state = SandboxState(
            clock=clock,
            token_ttl=token_ttl,
            signin_ttl=signin_ttl,
            client_id=client_id,
            client_secret=client_secret,
            catalogue=catalogue,
            accounts=accounts,
            templates=templates,
            seed=seed,
        )
        self.settings = ApiSettings(
            page_headers=page_headers, install_latency=install_latency, api_latency=api_latency
        )
        self.faults = FaultPlan()
        self.request_log = RequestLog()
        self.api = CyclrApi(self.state, self.settings, self.wait)
        self.webhooks = WebhookSender(clock, timeout=webhook_timeout)
        self.controls = SandboxControls(self.state, self.settings, self.webhooks, self._describe)
        self._stopping = threading.Event()
        self._errors: list[str] = []
        self._errors_lock = threading.Lock()
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> CyclrSandbox:
        """Bind the port and serve on a background thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()
        server = SandboxHTTPServer((self.host, self._requested_port), self)
        self._server = server
        self.api.api_host = self._url_host.strip("[]").lower()
        self.api.service_host = self._service_host.strip("[]").lower()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="cyclr-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and wake any sleeping handler; idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self.webhooks.stop()
        self._server = self._thread = None

    def __enter__(self) -> CyclrSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    # -- addresses and credentials ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def _url_host(self) -> str:
        host = _WILDCARD.get(self.host, self.host)
        return f"[{host}]" if ":" in host else host

    @property
    def _service_host(self) -> str:
        return "localhost" if self.host in _IPV4_LOOPBACK else self._url_host

    @property
    def api_url(self) -> str:
        """The API domain, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://{self._url_host}:{self.port}"

    @property
    def service_url(self) -> str:
        """The partner service domain, e.g. ``http://localhost:PORT``."""
        return f"http://{self._service_host}:{self.port}"

    @property
    def control_url(self) -> str:
        """The sandbox's control API (:mod:`.control`), e.g. ``http://127.0.0.1:PORT/_sandbox``."""
        return f"{self.api_url}{CONTROL_PREFIX}"

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        return self.state.client_secret

    @property
    def default_account_id(self) -> str:
        return self.state.account_ids[0]

    @property
    def account_ids(self) -> list[str]:
        return self.state.account_ids

    # -- knobs ----------------------------------------------------------------------------------

    @property
    def install_latency(self) -> float:
        """Seconds each install POST sleeps before it is applied and answered."""
        return self.settings.install_latency

    @install_latency.setter
    def install_latency(self, seconds: float) -> None:
        self.settings.install_latency = max(0.0, float(seconds))

    @property
    def api_latency(self) -> float:
        """Seconds every request sleeps before it is answered (a round trip to a real Cyclr)."""
        return self.settings.api_latency

    @api_latency.setter
    def api_latency(self, seconds: float) -> None:
        self.settings.api_latency = max(0.0, float(seconds))

    @property
    def page_headers(self) -> bool:
        """Whether list responses carry ``Total-Pages`` and ``Total-Records``."""
        return self.settings.page_headers

    @page_headers.setter
    def page_headers(self, value: bool) -> None:
        self.settings.page_headers = bool(value)

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        self.state.expire_tokens()

    # -- recorded requests ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, oldest first."""
        return self.request_log.snapshot()

    def count(
        self, method: str | None = None, path: str | None = None, path_prefix: str | None = None
    ) -> int:
        return self.request_log.count(method, path, path_prefix)

    def clear_requests(self) -> None:
        self.request_log.clear()

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of unexpected exceptions in the sandbox (each answered as a 500)."""
        with self._errors_lock:
            return list(self._errors)

    # -- model shortcuts for tests ----------------------------------------------------------------

    def installed(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """The account's installed connectors as the API shows them (default account if omitted)."""
        return self.state.installed(account_id or self.default_account_id)

    def set_authenticated(self, account_id: str, account_connector_id: int, value: bool = True) -> None:
        self.state.set_authenticated(account_id, account_connector_id, value)

    def auth_received(self, account_id: str, account_connector_id: int) -> AuthReceived:
        return self.state.auth_received(account_id, account_connector_id)

    @property
    def signin_tokens_issued(self) -> int:
        return self.state.signin_tokens_issued

    def connector_by_name(self, name: str) -> dict[str, Any]:
        return self.state.connector_by_name(name)

    def oauth_link(
        self,
        account_id: str,
        account_connector_id: int,
        target_origin: str = "http://localhost/authorised",
        *,
        username: str = "sandbox-user",
        callback_message: str | None = None,
    ) -> str:
        """An authorisation URL with a fresh sign-in token, as the bot would build it."""
        token = self.state.mint_signin_token(account_id, {"Username": username})["Token"]
        params = {"id": str(account_connector_id), "token": token, "targetOrigin": target_origin}
        if callback_message is not None:
            params["callbackMessage"] = callback_message
        return f"{self.service_url}{CONNECTORAUTH_PATH}?{urlencode(params)}"

    def click_through(self, url: str, *, allow: bool = True) -> LinkOutcome:
        """Open an authorisation URL and answer its consent page, as a user's browser would."""
        return click_through(url, allow=allow)

    # -- templates, cycles and incidents (also under control_url) -----------------------------------

    def templates(self) -> list[dict[str, Any]]:
        """The template library as ``GET /v1.0/templates`` shows it."""
        return self.state.templates()

    def template_by_name(self, name: str) -> dict[str, Any]:
        """The template called ``name`` (ignoring case); KeyError when there is none."""
        for template in self.state.templates():
            if str(template["Name"]).casefold() == name.strip().casefold():
                return template
        raise KeyError(name)

    def cycles(self, account_id: str | None = None) -> list[dict[str, Any]]:
        """The account's cycles as the API shows them (default account if omitted)."""
        return self.state.cycles(account_id or self.default_account_id)

    def schedule(self, account_id: str, cycle_id: str) -> dict[str, Any]:
        """``Interval``, ``RunOnce``, ``StartTime`` of the last activation (not in Cyclr's cycle object)."""
        return self.state.schedule(account_id, cycle_id)

    def lose_auth(self, account_id: str, account_connector_id: int) -> dict[str, Any]:
        """The installed connector stops being authenticated (a revoked token, a rotated key)."""
        return self.controls.lose_auth(account_id, account_connector_id)

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
        """Fail ``count`` transactions of a cycle: incidents, counts and the account's webhook calls.

        Each :class:`~.cycles.RaisedIncident` holds the incident (its ``secrets`` are the
        credentials planted in its detail) and the webhook call queued for it, if any.
        Raises :class:`ApiError` (400/404) for a bad level, count, cycle or connector.
        """
        return self.controls.raise_incidents(
            account_id,
            cycle_id,
            level=level,
            count=count,
            auth_failure=auth_failure,
            message=message,
            account_connector_id=account_connector_id,
        )

    def record_success(self, account_id: str, cycle_id: str) -> dict[str, Any]:
        """A successful run of the cycle now (``LastSuccessfulRunDate``)."""
        return self.state.record_success(account_id, cycle_id)

    def resolve_prerequisites(self, account_id: str, cycle_id: str) -> list[dict[str, Any]]:
        """Clear the prerequisites only the Cyclr console could fix; the prerequisites left."""
        return self.state.resolve_prerequisites(account_id, cycle_id)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every error webhook call made so far, oldest first."""
        return self.webhooks.deliveries

    def wait_for_webhooks(self, count: int, timeout: float = 5.0) -> bool:
        """Whether at least ``count`` webhook calls were made within ``timeout`` seconds."""
        return self.webhooks.wait_for(count, timeout)

    def _describe(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url if self.running else None,
            "service_url": self.service_url if self.running else None,
            "accounts": self.state.account_ids,
            "templates": len(self.state.templates()),
        }

    # -- used by the HTTP handler -----------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; returns at once when the sandbox is stopping."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def report_error(self, text: str) -> None:
        with self._errors_lock:
            self._errors.append(text)

    def __repr__(self) -> str:
        where = self.api_url if self.running else "stopped"
        return f"<CyclrSandbox {where}>"

"""The Cyclr API client: every call goes through :meth:`CyclrClient._request`.

``_request`` owns the whole HTTP policy:

* base URL from settings, a ``(connect, read)`` timeout on every call, ``X-Cyclr-Account``
  on account-level calls, ids in paths percent-encoded;
* the bearer token from :mod:`bot.cyclr.auth`, renewed once (and the call repeated once)
  when Cyclr answers 401;
* retries by a urllib3 :class:`~urllib3.util.Retry` mounted on the session. Idempotent
  methods (GET, PUT, DELETE) and the token POST are retried on connection errors, 429
  (honouring ``Retry-After``) and 502/503/504 with capped backoff. Other POSTs (install,
  sign-in token) are retried only when the connection could not be made at all: once the
  request may have reached Cyclr, repeating it could install a connector twice;
* ``requests`` exceptions and error statuses become :mod:`bot.cyclr.errors` classes here,
  with messages that name the method and path only (no query string, token or secret).

Secrets the bot sends in a body (an ``AuthValue``, the webhook URL with its secret path)
are registered with :func:`bot.logs.register_secret` before the call and removed from any
error Cyclr answers with, in case its ``Message`` echoes them.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, NamedTuple, Self, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from bot import __version__
from bot.cyclr.auth import TOKEN_PATH, TokenManager, client_credentials_form
from bot.cyclr.errors import (
    CyclrConnectError,
    CyclrError,
    CyclrNotFound,
    CyclrServerError,
    CyclrTimeout,
    CyclrTransportError,
    error_from_response,
    parse_retry_after,
)
from bot.cyclr.links import normalize_base_url
from bot.cyclr.models import (
    CYCLE_INTERVALS,
    Account,
    AccountConnector,
    Connector,
    Cycle,
    CycleStep,
    Incident,
    IncidentLevel,
    Prerequisite,
    SignInToken,
    Template,
    WebhookSettings,
)
from bot.logs import MASK, register_secret

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "MAX_PAGES",
    "CyclrClient",
    "check_interval",
]

log = logging.getLogger(__name__)

#: ``(connect, read)`` seconds; requests has no default timeout, so every call passes one.
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
DEFAULT_PAGE_SIZE = 100
#: Hard stop for a listing, whatever the server says (100 000 items at the default size).
MAX_PAGES = 1000
#: Sleeps between retries: 0, 0.6, 1.2 s … capped by ``backoff_max``, plus up to 0.1 s jitter.
BACKOFF_FACTOR = 0.3
BACKOFF_JITTER = 0.1
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
API_PREFIX = "/v1.0"
#: Seconds an ``AuthValue`` sent with :meth:`CyclrClient.set_connector_auth` stays masked in
#: the log: well past the call and its retries. The client keeps no copy, and one registered
#: for good would take a place in the log's bounded registry for good.
AUTH_VALUE_TTL = 15 * 60.0

_T = TypeVar("_T")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Reply(NamedTuple):
    status: int
    body: Any
    headers: Mapping[str, str]


class _CyclrRetry(Retry):
    """urllib3 Retry that gives up at once when ``Retry-After`` asks for a long wait.

    urllib3 would cap the sleep at ``retry_after_max`` and retry too early; failing fast
    instead hands the 429 (with its ``retry_after``) to the caller. A malformed header is
    ignored rather than raised out of urllib3.
    """

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and error is None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.retry_after_max:
                raise MaxRetryError(_pool, url or "", ResponseError("Retry-After too long"))  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _retry(retries: int, methods: frozenset[str], backoff_max: float, max_retry_after: int) -> Retry:
    return _CyclrRetry(
        total=retries,
        connect=retries,
        # Read errors include a reset keep-alive connection (worth one retry) and read
        # timeouts (where three more waits of the read timeout would stall the user).
        read=min(retries, 1),
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=methods,
        status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF_FACTOR,
        backoff_max=backoff_max,
        backoff_jitter=BACKOFF_JITTER,
        respect_retry_after_header=True,
        retry_after_max=max_retry_after,
        raise_on_status=False,  # hand back the last response so it is mapped to an error
        raise_on_redirect=False,
    )


def _segment(value: int | str, what: str) -> str:
    """One path segment: an id percent-encoded with nothing left safe (``/`` too)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{what} must be a str or int")
    text = str(value)
    if not text or not text.strip():
        raise ValueError(f"{what} is empty")
    return quote(text, safe="")


def _account_header(account_id: str) -> str:
    if not isinstance(account_id, str) or not account_id.strip():
        raise ValueError("account_id is empty")
    if _CONTROL.search(account_id) or account_id != account_id.strip():
        raise ValueError("account_id has control characters or surrounding spaces")
    if not account_id.isascii():
        raise ValueError("account_id is not ASCII (it travels in an HTTP header)")
    return account_id


def _root_cause(exc: BaseException) -> BaseException:
    """The urllib3 error inside a requests exception (unwrapping ``MaxRetryError``)."""
    inner: BaseException = exc
    if exc.args and isinstance(exc.args[0], BaseException):
        inner = exc.args[0]
    if isinstance(inner, MaxRetryError) and inner.reason is not None:
        inner = inner.reason
    return inner


def _transport_error(exc: Exception, *, method: str, path: str) -> CyclrTransportError:
    """Classify a failure with no HTTP answer: never reached Cyclr, or maybe applied."""
    cause = _root_cause(exc)
    kind = type(cause).__name__
    # NewConnectionError (refused, DNS) subclasses ConnectTimeoutError: the request was never sent.
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError) or isinstance(
        cause, ConnectTimeoutError | NewConnectionError
    ):
        return CyclrConnectError(f"Could not connect to Cyclr ({kind})", method=method, path=path)
    if isinstance(exc, requests.ReadTimeout) or isinstance(cause, ReadTimeoutError):
        return CyclrTimeout("Cyclr did not answer in time", method=method, path=path)
    broken = requests.ConnectionError | requests.exceptions.ChunkedEncodingError | Urllib3HTTPError
    if isinstance(exc, broken):
        return CyclrTimeout(
            f"The connection to Cyclr broke before the answer was complete ({kind})", method=method, path=path
        )
    # InvalidURL, InvalidHeader and the like: raised before anything was sent.
    return CyclrConnectError(f"The request to Cyclr could not be sent ({kind})", method=method, path=path)


def _decode(response: requests.Response) -> Any:
    if not response.content or not response.content.strip():
        return None
    return response.json()


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        value = int(headers.get(name, "").strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def check_interval(interval: int) -> int:
    """``interval`` if Cyclr accepts it as a cycle's run interval (minutes), else ValueError."""
    if isinstance(interval, bool) or not isinstance(interval, int) or interval not in CYCLE_INTERVALS:
        allowed = ", ".join(str(i) for i in CYCLE_INTERVALS)
        raise ValueError(f"interval must be one of {allowed} minutes, not {interval!r}")
    return interval


def _utc_text(moment: datetime, what: str) -> str:
    """A timezone-aware datetime as Cyclr writes UTC: ``2024-05-01T09:30:00.0000000Z``."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def _incident_level(level: IncidentLevel | str) -> str:
    text = str(level).strip().lower()
    if text not in ("error", "warning"):
        raise ValueError(f"level must be 'error' or 'warning', not {level!r}")
    return text


def _scrub(error: CyclrError, secret: str) -> CyclrError:
    """Remove ``secret`` from an error's texts (Cyclr's ``Message`` may echo what it refused)."""
    if secret:
        error.message = error.message.replace(secret, MASK)
        if error.cyclr_message is not None:
            error.cyclr_message = error.cyclr_message.replace(secret, MASK)
        error.args = tuple(a.replace(secret, MASK) if isinstance(a, str) else a for a in error.args)
    return error


class CyclrClient:
    """A thread-safe client for the parts of the Cyclr REST API the bot uses.

    Args:
        api_url: The API domain, e.g. ``https://api.eu.cyclr.com`` (a path prefix is kept).
        client_id: Partner OAuth client id.
        client_secret: Partner OAuth client secret.
        session: A session to use (the client mounts its retrying adapters on it for
            ``api_url`` and does not close it); by default the client owns one.
        timeout: ``(connect, read)`` seconds for every call.
        retries: Retries after the first attempt (connection errors, 429, 502/503/504).
        backoff_max: Longest sleep between two retries, in seconds.
        max_retry_after: Longest ``Retry-After`` honoured by waiting; a longer one raises
            :class:`~bot.cyclr.errors.CyclrRateLimited` at once.
        user_agent: The ``User-Agent`` header.
        pool_size: Connections kept per host (set it to the number of worker threads).
    """

    def __init__(
        self,
        *,
        api_url: str,
        client_id: str,
        client_secret: str,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retries: int = 3,
        backoff_max: float = 5.0,
        max_retry_after: int = 30,
        user_agent: str = f"cyclr-for-slack/{__version__}",
        pool_size: int = 20,
    ) -> None:
        self._api_url = normalize_base_url(api_url, what="Cyclr API URL")
        if not client_id or not client_secret:
            raise ValueError("Cyclr client id and client secret are required")
        connect, read = timeout
        if not (connect > 0 and read > 0):
            raise ValueError("timeouts must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = (float(connect), float(read))
        self._user_agent = user_agent
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        safe = _retry(retries, IDEMPOTENT_METHODS, backoff_max, max_retry_after)
        token = _retry(retries, IDEMPOTENT_METHODS | {"POST"}, backoff_max, max_retry_after)
        # requests picks the longest matching prefix, so the token route gets its own policy.
        self._session.mount(
            f"{self._api_url}/", HTTPAdapter(max_retries=safe, pool_connections=2, pool_maxsize=pool_size)
        )
        self._session.mount(
            f"{self._api_url}{TOKEN_PATH}", HTTPAdapter(max_retries=token, pool_connections=1, pool_maxsize=2)
        )
        self._tokens = TokenManager(self._fetch_token)

    def __repr__(self) -> str:
        return f"CyclrClient(api_url={self._api_url!r})"

    @property
    def api_url(self) -> str:
        return self._api_url

    @property
    def token_fetches(self) -> int:
        """How many ``/oauth/token`` requests this client has made."""
        return self._tokens.fetches

    def fetch_token(self) -> None:
        """Ask Cyclr for a new access token now (and cache it): proves URL and credentials.

        Raises:
            CyclrAuthError: the credentials were refused.
            CyclrTransportError: Cyclr could not be reached.
        """
        self._tokens.refresh()

    def close(self) -> None:
        """Close the session if the client created it."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _fetch_token(self) -> Any:
        form = client_credentials_form(self._client_id, self._client_secret)
        return self._request("POST", TOKEN_PATH, form=form, authenticated=False).body

    def _send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        params: Mapping[str, str | int] | None,
        json_body: Any,
        form: Mapping[str, str] | None,
    ) -> requests.Response:
        started = time.monotonic()
        try:
            response = self._session.request(
                method,
                self._api_url + path,
                params=params,
                json=json_body,
                data=form,
                headers=dict(headers),
                timeout=self._timeout,
                allow_redirects=False,
            )
        except (requests.RequestException, Urllib3HTTPError) as exc:
            error = _transport_error(exc, method=method, path=path)
            log.info(
                "cyclr %s %s failed after %.0f ms: %s",
                method,
                path,
                (time.monotonic() - started) * 1000,
                error.message,
            )
            raise error from None
        elapsed_ms = (time.monotonic() - started) * 1000
        log.debug("cyclr %s %s -> %d in %.0f ms", method, path, response.status_code, elapsed_ms)
        return response

    def _request(
        self,
        method: str,
        path: str,
        *,
        account_id: str | None = None,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        authenticated: bool = True,
    ) -> _Reply:
        """Send one call (plus transport retries, plus one repeat after a 401) and decode it.

        Args:
            path: Starting with ``/``, ids already encoded with :func:`_segment`.
            account_id: Sends ``X-Cyclr-Account`` (account-level call) when given.

        Raises:
            CyclrError: a subclass chosen by cause; see :mod:`bot.cyclr.errors`.
        """
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if account_id is not None:
            headers["X-Cyclr-Account"] = _account_header(account_id)
        response: requests.Response | None = None
        for attempt in (1, 2):
            token = self._tokens.authorize(headers) if authenticated else None
            response = self._send(method, path, headers, params, json_body, form)
            if response.status_code == 401 and token is not None and attempt == 1:
                log.info("cyclr %s %s -> 401; renewing the access token and trying once more", method, path)
                self._tokens.invalidate(token)
                continue
            break
        assert response is not None
        success = 200 <= response.status_code < 300
        try:
            body = _decode(response)
        except ValueError:
            if success:
                raise CyclrServerError(
                    "Cyclr sent an answer the bot could not read",
                    status=response.status_code,
                    method=method,
                    path=path,
                ) from None
            body = None
        if not success:
            raise error_from_response(
                response.status_code,
                body,
                method=method,
                path=path,
                retry_after=response.headers.get("Retry-After"),
            )
        return _Reply(response.status_code, body, response.headers)

    def _object(self, reply: _Reply, *, method: str, path: str) -> Mapping[str, Any]:
        if not isinstance(reply.body, Mapping):
            raise CyclrServerError(
                "Cyclr sent an answer of an unexpected shape", status=reply.status, method=method, path=path
            )
        return reply.body

    def _iter_pages(
        self,
        path: str,
        parse: Callable[[Mapping[str, Any]], _T],
        *,
        account_id: str | None = None,
        params: Mapping[str, str | int] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[_T]:
        """Yield items across ``page``/``pageSize`` pages of a bare-array listing.

        Stops at an empty page; at ``Total-Pages`` when Cyclr sends it, else at a page
        shorter than ``page_size``; when a page brings no id not seen before (a server
        that ignores ``page``); and after :data:`MAX_PAGES`. Items are de-duplicated by id.
        Arguments are checked now; pages are fetched as the iterator is consumed.
        """
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError("page_size must be a positive int")
        return self._pages(path, parse, account_id=account_id, params=params or {}, page_size=page_size)

    def _pages(
        self,
        path: str,
        parse: Callable[[Mapping[str, Any]], _T],
        *,
        account_id: str | None,
        params: Mapping[str, str | int],
        page_size: int,
    ) -> Iterator[_T]:
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            query: dict[str, str | int] = {**params, "page": page, "pageSize": page_size}
            reply = self._request("GET", path, account_id=account_id, params=query)
            items = reply.body if reply.body is not None else []
            if not isinstance(items, list):
                raise CyclrServerError(
                    "Cyclr sent a listing that is not a list", status=reply.status, method="GET", path=path
                )
            fresh = 0
            for raw in items:
                if not isinstance(raw, Mapping):
                    continue
                key = raw.get("Id")
                if key is not None:
                    if str(key) in seen:
                        continue
                    seen.add(str(key))
                fresh += 1
                yield parse(raw)
            if not items:
                return
            total_pages = _int_header(reply.headers, "Total-Pages")
            if total_pages is not None:
                if page >= total_pages:
                    return
            elif len(items) < page_size:
                return
            if fresh == 0:
                log.warning("cyclr GET %s: page %d repeats earlier items; stopping", path, page)
                return
        log.warning("cyclr GET %s: stopped after %d pages", path, MAX_PAGES)

    # ------------------------------------------------------------------ catalogue

    def iter_connectors(
        self,
        account_id: str | None = None,
        *,
        query: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Connector]:
        """The connector catalogue: the account's view when ``account_id`` is given, else the partner's.

        Args:
            query: Cyclr's name search.
        """
        params: dict[str, str | int] = {"query": query} if query else {}
        return self._iter_pages(
            f"{API_PREFIX}/connectors",
            Connector.from_api,
            account_id=None if account_id is None else _account_header(account_id),
            params=params,
            page_size=page_size,
        )

    def list_connectors(
        self,
        account_id: str | None = None,
        *,
        query: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> list[Connector]:
        return list(self.iter_connectors(account_id, query=query, page_size=page_size))

    def get_connector(self, connector_id: int | str, account_id: str | None = None) -> Connector:
        """One catalogue connector by id (Cyclr answers a lookup by *name* with a list: the first is taken).

        Raises:
            CyclrNotFound: no such connector.
        """
        path = f"{API_PREFIX}/connectors/{_segment(connector_id, 'connector_id')}"
        reply = self._request("GET", path, account_id=account_id)
        body = reply.body
        if isinstance(body, list):
            found = [item for item in body if isinstance(item, Mapping)]
            if not found:
                raise CyclrNotFound("Cyclr could not find it", status=404, method="GET", path=path)
            return Connector.from_api(found[0])
        return Connector.from_api(self._object(reply, method="GET", path=path))

    # ------------------------------------------------------------------ account connectors

    def install_connector(
        self,
        account_id: str,
        connector_id: int | str,
        *,
        name: str,
        description: str | None = None,
        auth_value: str | None = None,
        authentication_id: str | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> AccountConnector:
        """Install a connector into an account. Not retried once it may have reached Cyclr.

        Args:
            name: The account connector's name; Cyclr refuses one already in use.
            auth_value: API key, or base64 ``user:password`` for Basic (a secret: never logged).
            authentication_id: Which ``Authentication[]`` entry to use, when several.
            properties: Account connector properties, by ``TargetName``.

        Raises:
            CyclrBadRequest: duplicate name (``is_duplicate_name``), draft connector, bad property.
            CyclrTimeout: no full answer: the install may have happened; reconcile by name.
        """
        if not name or not name.strip():
            raise ValueError("name is empty")
        body: dict[str, Any] = {"Name": name}
        if description is not None:
            body["Description"] = description
        if authentication_id is not None:
            body["AuthenticationId"] = authentication_id
        if auth_value is not None:
            body["AuthValue"] = auth_value
        if properties:
            body["Properties"] = [{"Name": key, "Value": value} for key, value in properties.items()]
        path = f"{API_PREFIX}/connectors/{_segment(connector_id, 'connector_id')}/install"
        reply = self._request("POST", path, account_id=account_id, json_body=body)
        return AccountConnector.from_api(self._object(reply, method="POST", path=path))

    def iter_account_connectors(
        self, account_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[AccountConnector]:
        """The connectors installed in an account."""
        return self._iter_pages(
            f"{API_PREFIX}/account/connectors",
            AccountConnector.from_api,
            account_id=_account_header(account_id),
            page_size=page_size,
        )

    def list_account_connectors(
        self, account_id: str, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> list[AccountConnector]:
        return list(self.iter_account_connectors(account_id, page_size=page_size))

    def get_account_connector(self, account_id: str, account_connector_id: int | str) -> AccountConnector:
        """One installed connector (poll its ``authenticated`` after sending a sign-in link).

        Raises:
            CyclrNotFound: not installed (any more).
        """
        path = f"{API_PREFIX}/account/connectors/{_segment(account_connector_id, 'account_connector_id')}"
        reply = self._request("GET", path, account_id=_account_header(account_id))
        return AccountConnector.from_api(self._object(reply, method="GET", path=path))

    def delete_account_connector(
        self, account_id: str, account_connector_id: int | str, *, missing_ok: bool = False
    ) -> None:
        """Uninstall a connector from an account.

        DELETE is retried like a GET, so a retry after a lost answer can meet a 404 for a
        delete that did happen; ``missing_ok=True`` treats that 404 as success.
        """
        path = f"{API_PREFIX}/account/connectors/{_segment(account_connector_id, 'account_connector_id')}"
        try:
            self._request("DELETE", path, account_id=_account_header(account_id))
        except CyclrNotFound:
            if not missing_ok:
                raise

    # ------------------------------------------------------------------ accounts

    def iter_accounts(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Account]:
        """The partner's accounts (partner level)."""
        return self._iter_pages(f"{API_PREFIX}/accounts", Account.from_api, page_size=page_size)

    def list_accounts(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> list[Account]:
        return list(self.iter_accounts(page_size=page_size))

    def get_account(self, account_id: str) -> Account:
        """One account by its API id.

        Raises:
            CyclrNotFound: no such account.
        """
        path = f"{API_PREFIX}/accounts/{_segment(_account_header(account_id), 'account_id')}"
        reply = self._request("GET", path)
        return Account.from_api(self._object(reply, method="GET", path=path))

    def mint_signin_token(self, account_id: str, username: str) -> SignInToken:
        """A one-time sign-in token for ``username`` (Cyclr creates the user if needed).

        Partner level (no ``X-Cyclr-Account``). Not retried once it may have reached Cyclr:
        the token is single-use, so ask again instead.
        """
        if not username or not username.strip():
            raise ValueError("username is empty")
        path = f"{API_PREFIX}/accounts/{_segment(_account_header(account_id), 'account_id')}/signintoken"
        reply = self._request("POST", path, json_body={"Username": username})
        token = SignInToken.from_api(self._object(reply, method="POST", path=path))
        if not token.token:
            raise CyclrServerError(
                "Cyclr's sign-in answer has no Token", status=reply.status, method="POST", path=path
            )
        return token

    # ------------------------------------------------------------------ templates

    def iter_templates(
        self, account_id: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Iterator[Template]:
        """The partner's template library: the account's view when ``account_id`` is given."""
        return self._iter_pages(
            f"{API_PREFIX}/templates",
            Template.from_api,
            account_id=None if account_id is None else _account_header(account_id),
            page_size=page_size,
        )

    def list_templates(
        self, account_id: str | None = None, *, page_size: int = DEFAULT_PAGE_SIZE
    ) -> list[Template]:
        return list(self.iter_templates(account_id, page_size=page_size))

    def get_template(self, template_id: str, account_id: str | None = None) -> Template:
        """One template by id.

        Raises:
            CyclrNotFound: no such template.
        """
        path = f"{API_PREFIX}/templates/{_segment(template_id, 'template_id')}"
        account = None if account_id is None else _account_header(account_id)
        reply = self._request("GET", path, account_id=account)
        return Template.from_api(self._object(reply, method="GET", path=path))

    def install_template(self, account_id: str, template_id: str) -> Cycle:
        """Install a template into an account: a new cycle (``Paused``) and the connectors it needs.

        Cyclr reuses an installed connector of the same type and installs the others
        unauthenticated. Not idempotent: a second call makes a second cycle, so this POST is
        never retried once it may have reached Cyclr (like :meth:`install_connector`).

        Raises:
            CyclrNotFound: no such template (or account).
            CyclrTimeout: no full answer: the cycle may exist; reconcile with
                :meth:`list_cycles` (``template_id`` and ``created_at``), never call again blindly.
        """
        path = f"{API_PREFIX}/templates/{_segment(template_id, 'template_id')}/install"
        reply = self._request("POST", path, account_id=_account_header(account_id))
        return Cycle.from_api(self._object(reply, method="POST", path=path))

    # ------------------------------------------------------------------ cycles

    def _cycle_path(self, cycle_id: str, suffix: str = "") -> str:
        return f"{API_PREFIX}/cycles/{_segment(cycle_id, 'cycle_id')}{suffix}"

    def iter_cycles(self, account_id: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[Cycle]:
        """The account's cycles."""
        return self._iter_pages(
            f"{API_PREFIX}/cycles",
            Cycle.from_api,
            account_id=_account_header(account_id),
            page_size=page_size,
        )

    def list_cycles(self, account_id: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> list[Cycle]:
        return list(self.iter_cycles(account_id, page_size=page_size))

    def get_cycle(self, account_id: str, cycle_id: str) -> Cycle:
        """One cycle, with its connectors' authenticated state and its error counts.

        Raises:
            CyclrNotFound: no such cycle in the account.
        """
        path = self._cycle_path(cycle_id)
        reply = self._request("GET", path, account_id=_account_header(account_id))
        return Cycle.from_api(self._object(reply, method="GET", path=path))

    def list_cycle_steps(self, account_id: str, cycle_id: str) -> list[CycleStep]:
        """The cycle's steps, each with the installed connector it calls (to name a step by id)."""
        path = self._cycle_path(cycle_id, "/steps")
        reply = self._request("GET", path, account_id=_account_header(account_id))
        if not isinstance(reply.body, list):
            raise CyclrServerError(
                "Cyclr sent a listing that is not a list", status=reply.status, method="GET", path=path
            )
        return [CycleStep.from_api(item) for item in reply.body if isinstance(item, Mapping)]

    def cycle_prerequisites(self, account_id: str, cycle_id: str) -> list[Prerequisite]:
        """What still stops the cycle from being activated; empty when it can run.

        Only :attr:`~bot.cyclr.models.Prerequisite.fixable_in_slack` ones (unauthenticated
        connectors) can be fixed by the bot; the others need the Cyclr console.
        """
        path = self._cycle_path(cycle_id, "/prerequisites")
        reply = self._request("GET", path, account_id=_account_header(account_id))
        items = reply.body if reply.body is not None else []
        if not isinstance(items, list):
            raise CyclrServerError(
                "Cyclr sent a listing that is not a list", status=reply.status, method="GET", path=path
            )
        return [Prerequisite.from_api(item) for item in items if isinstance(item, Mapping)]

    def activate_cycle(
        self,
        account_id: str,
        cycle_id: str,
        *,
        interval: int,
        start_time: datetime | None = None,
        run_once: bool = False,
    ) -> None:
        """Start the cycle running every ``interval`` minutes (one of :data:`CYCLE_INTERVALS`).

        Args:
            start_time: First run (timezone-aware); Cyclr starts at once when omitted.
            run_once: Run once, then pause (Cyclr ignores ``interval`` then).

        Raises:
            ValueError: an interval Cyclr does not accept, or a naive ``start_time`` (nothing sent).
            CyclrBadRequest: Cyclr refused, e.g. a prerequisite remains (its ``Message`` says which).
            CyclrConflict: Cyclr will not change the cycle in its current state.
        """
        body: dict[str, Any] = {"Interval": check_interval(interval), "RunOnce": bool(run_once)}
        if start_time is not None:
            body["StartTime"] = _utc_text(start_time, "start_time")
        path = self._cycle_path(cycle_id, "/activate")
        self._request("PUT", path, account_id=_account_header(account_id), json_body=body)

    def deactivate_cycle(self, account_id: str, cycle_id: str, *, finish_queued: bool = True) -> None:
        """Pause the cycle; ``finish_queued`` lets transactions already queued run to the end."""
        path = self._cycle_path(cycle_id, "/deactivate")
        params = {"finishQueuedTransactions": "true" if finish_queued else "false"}
        self._request("PUT", path, account_id=_account_header(account_id), params=params, json_body={})

    # ------------------------------------------------------------------ connector authentication

    def set_connector_auth(
        self, account_id: str, account_connector_id: int | str, auth_value: str
    ) -> AccountConnector:
        """Authenticate an installed API-key or Basic connector (``PUT`` with ``AuthValue``).

        Args:
            auth_value: The API key, or base64 of ``username:password`` for Basic. A secret:
                registered for log redaction before it is sent, and never part of an error.

        Raises:
            CyclrBadRequest: Cyclr refused the value.
            CyclrNotFound: the connector is not installed (any more).
        """
        if not isinstance(auth_value, str) or not auth_value.strip():
            raise ValueError("auth_value is empty")
        register_secret(auth_value, ttl=AUTH_VALUE_TTL)
        path = f"{API_PREFIX}/account/connectors/{_segment(account_connector_id, 'account_connector_id')}"
        try:
            reply = self._request(
                "PUT", path, account_id=_account_header(account_id), json_body={"AuthValue": auth_value}
            )
        except CyclrError as error:
            raise _scrub(error, auth_value) from None
        return AccountConnector.from_api(self._object(reply, method="PUT", path=path))

    def deauthenticate_connector(self, account_id: str, account_connector_id: int | str) -> str:
        """Make Cyclr forget an installed connector's credentials; Cyclr's confirmation text."""
        path = (
            f"{API_PREFIX}/account/connectors/"
            f"{_segment(account_connector_id, 'account_connector_id')}/deauthenticate"
        )
        reply = self._request("PUT", path, account_id=_account_header(account_id), json_body={})
        body = reply.body
        message = body.get("Message") if isinstance(body, Mapping) else None
        return message if isinstance(message, str) else ""

    # ------------------------------------------------------------------ incidents and the error webhook

    def iter_incidents(
        self,
        account_id: str,
        level: IncidentLevel | str = IncidentLevel.ERROR,
        *,
        after: datetime | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Incident]:
        """The account's error (or warning) incidents, oldest first, after a cursor.

        Args:
            after: Only incidents after this moment: an aware datetime, or the
                :attr:`~bot.cyclr.models.Incident.cursor` of the last one seen (exact, with
                Cyclr's seven fractional digits). Whether Cyclr counts an incident at exactly
                ``after`` is not documented: de-duplicate by ``transaction_id``.
        """
        params: dict[str, str | int] = {"sortOrderAsc": "true"}
        if isinstance(after, datetime):
            params["after"] = _utc_text(after, "after")
        elif after is not None:
            if not isinstance(after, str) or not after.strip():
                raise ValueError("after is empty")
            params["after"] = after.strip()
        return self._iter_pages(
            f"{API_PREFIX}/cycles/incidents/{_incident_level(level)}",
            Incident.from_api,
            account_id=_account_header(account_id),
            params=params,
            page_size=page_size,
        )

    def list_incidents(
        self,
        account_id: str,
        level: IncidentLevel | str = IncidentLevel.ERROR,
        *,
        after: datetime | str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        limit: int | None = None,
    ) -> list[Incident]:
        """:meth:`iter_incidents` as a list, stopping after ``limit`` incidents when given."""
        found = self.iter_incidents(account_id, level, after=after, page_size=page_size)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValueError("limit must be a positive int")
            return list(itertools.islice(found, limit))
        return list(found)

    def get_webhook_settings(self, account_id: str) -> WebhookSettings:
        """The account's transaction error webhook (enabled, URL, warnings too)."""
        return self.get_account(account_id).webhook

    def set_webhook_settings(self, account_id: str, settings: WebhookSettings) -> WebhookSettings:
        """Point the account's transaction error webhook somewhere (``PUT /accounts/{id}``).

        Only the three webhook fields are sent; Cyclr leaves the account's other fields as
        they are. The URL usually carries a secret: it is registered for log redaction and
        removed from any error text.

        Raises:
            ValueError: ``enabled`` without a URL (nothing sent).
            CyclrBadRequest: Cyclr refused the URL.
        """
        url = (settings.url or "").strip() or None
        if settings.enabled and url is None:
            raise ValueError("a webhook URL is needed to enable the transaction error webhook")
        register_secret(url)
        path = f"{API_PREFIX}/accounts/{_segment(_account_header(account_id), 'account_id')}"
        body = WebhookSettings(settings.enabled, url, settings.include_warnings).to_api()
        try:
            reply = self._request("PUT", path, json_body=body)
        except CyclrError as error:
            raise _scrub(error, url or "") from None
        return Account.from_api(self._object(reply, method="PUT", path=path)).webhook

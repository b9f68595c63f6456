"""A Slack Web API stand-in for tests, benchmarks and the playground.

A real threaded HTTP server on 127.0.0.1 (free port) that answers the Web API methods the
bot uses under ``standin.api_url`` (give it to ``WebClient(base_url=...)``) and the
``response_url`` hooks it hands out. It records every call, answers like Slack does
(including Block Kit limit errors with ``response_metadata.messages``), and has knobs
for faults: rate limiting, error answers and slow answers.

Usage::

    with SlackStandin() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        [call] = slack.wait_for("chat.postMessage")

Trigger ids and response URLs come from the stand-in (``new_trigger_id()``,
``response_url()``) so that their expiry and single use can be enforced. Timing for those
uses the injectable ``clock`` (see :class:`FakeClock`); ``wait_for`` uses real time.

The playground keeps the rest of a workspace here too: channel names, people's own
messages, ephemeral messages that response URLs post, replace or delete (a URL made with
``response_url(channel=..., user=...)``), modals the user closes, and every Block Kit
refusal as a visible :meth:`SlackStandin.problems` entry. ``version`` counts the changes, so
a page can wait for the next one (:meth:`SlackStandin.wait_for_change`).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.playground.blockkit import (
    validate_blocks,
    validate_message,
    validate_options_response,
    validate_view,
    view_too_large,
)

__all__ = [
    "BOT_ID",
    "Problem",
    "ViewRefused",
    "BOT_USER_ID",
    "DEFAULT_USER_ID",
    "TEAM_ID",
    "Call",
    "FakeClock",
    "SlackStandin",
    "dm_channel_id",
    "validate_blocks",
    "validate_message",
    "validate_options_response",
    "validate_view",
]

TEAM_ID = "T0001"
TEAM_NAME = "Acme"
TEAM_DOMAIN = "acme"
BOT_USER_ID = "UBOT"
BOT_ID = "B0001"
APP_ID = "A0001"
DEFAULT_USER_ID = "U0001"
TRIGGER_TTL = 3.0
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_MAX_POSTS = 5
VIEW_STACK_MAX = 3
_JSON_ARGS = ("blocks", "view", "attachments", "user_auth_blocks", "metadata")
_RESPONSE_URL = "response_url"


def dm_channel_id(user_id: str) -> str:
    """The IM channel id the stand-in uses for the bot's DM with ``user_id``."""
    return f"D{user_id}"


class FakeClock:
    """A monotonic clock that only moves when told to, for expiry tests."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class Call:
    """One request the stand-in received, and what it answered."""

    method: str  # Web API method ("chat.postMessage") or "response_url"
    args: dict[str, Any]  # query + body; JSON strings in blocks/view/attachments decoded
    headers: dict[str, str]  # lower-cased names
    time: float  # wall clock (time.time()) when it arrived
    http_method: str = "POST"
    status: int = 200
    response: Any = None  # the JSON answer (dict) or, for response_url, the text body
    hook: str | None = None  # response_url name, for method == "response_url"

    @property
    def ok(self) -> bool:
        if isinstance(self.response, dict):
            return bool(self.response.get("ok"))
        return self.status == 200

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        token = self.args.get("token")
        return token if isinstance(token, str) else None

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict):
            err = self.response.get("error")
            return err if isinstance(err, str) else None
        return None if self.status == 200 else str(self.response)

    def summary(self) -> str:
        args = json.dumps(self.args, default=str, ensure_ascii=False)
        if len(args) > 300:
            args = args[:300] + "…"
        outcome = "ok" if self.ok else f"error={self.error!r}"
        name = f"{self.method}[{self.hook}]" if self.hook else self.method
        return f"{name} {self.status} {outcome} args={args}"


@dataclass
class _Fault:
    kind: str  # "status", "error" or "delay"
    remaining: int
    status: int = 429
    retry_after: float | None = 1
    error: str = "ratelimited"
    seconds: float = 0.0


@dataclass
class _Trigger:
    issued: float
    user_id: str
    view_id: str | None
    used: bool = False


@dataclass
class _Hook:
    name: str
    issued: float
    posts: int = 0
    #: Where posts are shown (the playground); None: they are only recorded, as in tests.
    channel: str | None = None
    user: str | None = None
    #: What ``replace_original``/``delete_original`` act on: ("message", ts) or
    #: ("ephemeral", id); a command's URL follows the last ephemeral it posted.
    original: tuple[str, str] | None = None
    follow: bool = False  #: a new ephemeral becomes the original (slash commands)


@dataclass(frozen=True)
class Problem:
    """A request Slack refused because of what the bot sent (a Block Kit limit, a bad view)."""

    method: str
    error: str
    messages: tuple[str, ...]
    time: float
    refused: bool = True  #: False: not Slack's refusal but what it saw (no answer, a 500…)

    def describe(self) -> str:
        detail = "; ".join(self.messages)
        lead = f"Slack refused {self.method}" if self.refused else self.method
        return f"{lead}: {self.error}" + (f" ({detail})" if detail else "")


@dataclass
class _View:
    view: dict[str, Any]
    user_id: str
    stack: list[str] = field(default_factory=list)  # only on root views: ids bottom to top
    closed: bool = False


#: Errors that mean "what the bot sent breaks Slack's rules" (not a race or a missing object),
#: including a modal opened too late (a trigger lives 3 seconds) or twice.
_PROBLEM_ERRORS = frozenset(
    {
        "invalid_blocks", "invalid_arguments", "view_too_large", "no_text", "invalid_payload", "msg_too_long",
        "expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id", "push_limit_reached",
    }
)


class ViewRefused(Exception):
    """A view the bot returned in a response (``response_action``) that Slack would refuse."""

    def __init__(self, error: str, messages: list[str]) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages


class _Answer(Exception):
    """Raised inside a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


class SlackStandin:
    """The stand-in server. Start with ``start()`` or ``with``; stop with ``close()``."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        trigger_ttl: float = TRIGGER_TTL,
        response_url_ttl: float = RESPONSE_URL_TTL,
        default_users: bool = True,
    ) -> None:
        self._clock = clock
        self._trigger_ttl = trigger_ttl
        self._response_url_ttl = response_url_ttl
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._hooks: dict[str, _Hook] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, _View] = {}
        self._home: dict[str, str] = {}  # user id -> view id
        self._modal: dict[str, str] = {}  # user id -> root view id of the open modal
        self._channels: dict[str, str] = {}  # channel id -> name
        self._problems: list[Problem] = []
        self._version = 0
        self._last_ts = 0
        self._ids = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if default_users:
            self.add_user(BOT_USER_ID, name="cyclr", is_bot=True)
            self.add_user(DEFAULT_USER_ID, name="alice", real_name="Alice Example")

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> SlackStandin:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.standin = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="slack-standin", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SlackStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Slack stand-in is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/`` (ends with a slash)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """The Web API base URL for ``WebClient(base_url=...)``: ``…/api/``."""
        return f"{self.base_url}api/"

    # -- recorded calls -------------------------------------------------------------------

    def calls(
        self, method: str | None = None, *, predicate: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        with self._cond:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (predicate is None or predicate(c))
            ]

    def clear(self) -> None:
        """Forget recorded calls (state such as messages and views is kept)."""
        with self._cond:
            self._calls.clear()

    def wait_for(
        self,
        method: str | None,
        count: int = 1,
        timeout: float = 5.0,
        predicate: Callable[[Call], bool] | None = None,
    ) -> list[Call]:
        """Wait until at least ``count`` calls of ``method`` match ``predicate``; return them all.

        A predicate that raises KeyError, IndexError or TypeError (say, on a call without
        that argument) counts as no match. Raises AssertionError listing every call
        received when the wait times out.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                matched = [
                    c
                    for c in self._calls
                    if (method is None or c.method == method) and _matches(predicate, c)
                ]
                if len(matched) >= count:
                    return matched
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._dump(method, count, timeout, len(matched)))
                self._cond.wait(remaining)

    def _dump(self, method: str | None, count: int, timeout: float, got: int) -> str:
        lines = [
            f"waited {timeout:g}s for {count} call(s) of {method or 'any method'}, {got} matched;",
            f"the Slack stand-in received {len(self._calls)} call(s):",
        ]
        lines += [f"  {i}. {c.summary()}" for i, c in enumerate(self._calls, 1)]
        return "\n".join(lines)

    # -- state the tests set up or read ---------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        team_id: str = TEAM_ID,
        is_admin: bool = False,
        is_owner: bool = False,
        is_restricted: bool = False,
        is_ultra_restricted: bool = False,
        deleted: bool = False,
        is_bot: bool = False,
        name: str | None = None,
        real_name: str | None = None,
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        user = {
            "id": user_id,
            "team_id": team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name or name,
            "tz": "Europe/London",
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_primary_owner": False,
            "is_restricted": is_restricted,
            "is_ultra_restricted": is_ultra_restricted,
            "is_bot": is_bot,
            "is_app_user": False,
            "profile": {"real_name": real_name or name, "display_name": name, "team": team_id},
        }
        with self._cond:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        with self._cond:
            self._usergroups[group_id] = list(user_ids)

    def new_trigger_id(self, user_id: str = DEFAULT_USER_ID, *, view_id: str | None = None) -> str:
        """Issue a trigger id, valid once for ``trigger_ttl`` seconds of the clock.

        ``view_id`` says which open modal the interaction came from (for ``views.push``).
        """
        with self._cond:
            trigger = f"{next(self._ids)}.{secrets.randbelow(10**9)}.{secrets.token_hex(8)}"
            self._triggers[trigger] = _Trigger(issued=self._clock(), user_id=user_id, view_id=view_id)
            return trigger

    def response_url(
        self,
        name: str | None = None,
        *,
        channel: str | None = None,
        user_id: str | None = None,
        original: tuple[str, str] | None = None,
    ) -> str:
        """A response URL on this server (``…/hooks/<name>``); 5 posts within 30 minutes.

        With ``channel`` and ``user_id`` (the playground), posts become ephemeral messages
        to that user there, or channel messages with ``response_type: in_channel``;
        ``original`` is the message a button was in (``("message", ts)`` or
        ``("ephemeral", id)``), which ``replace_original`` and ``delete_original`` act on.
        Without ``original`` (a slash command), they act on the last ephemeral it posted.
        """
        with self._cond:
            name = name or f"r{next(self._ids)}"
            self._hooks[name] = _Hook(
                name, self._clock(), channel=channel, user=user_id, original=original, follow=original is None
            )
        return f"{self.base_url}hooks/{name}"

    def response_posts(self, name: str) -> list[Call]:
        """Accepted and refused posts to ``response_url(name)``."""
        with self._cond:
            return [c for c in self._calls if c.method == _RESPONSE_URL and c.hook == name]

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Current state of posted messages (after updates), oldest first."""
        with self._cond:
            found = [m for (ch, _), m in self._messages.items() if channel is None or ch == channel]
            return copy.deepcopy(sorted(found, key=lambda m: m["ts"]))

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._messages[(_resolve_channel(channel), ts)])

    def ephemerals(self, user_id: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy([e for e in self._ephemerals if user_id is None or e["user"] == user_id])

    def view(self, view_id: str) -> dict[str, Any]:
        """The current state of a view opened, pushed, updated or published."""
        with self._cond:
            return copy.deepcopy(self._views[view_id].view)

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._cond:
            view_id = self._home.get(user_id)
            return copy.deepcopy(self._views[view_id].view) if view_id else None

    def view_stack(self, view_id: str) -> list[str]:
        """Ids of the modal stack ``view_id`` belongs to, root first."""
        with self._cond:
            root = self._views[view_id].view["root_view_id"]
            return list(self._views[root].stack)

    # -- the rest of a workspace (the playground) ---------------------------------------------

    @property
    def version(self) -> int:
        """How many changes the stand-in has seen (calls recorded, messages posted…)."""
        with self._cond:
            return self._version

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Wait until :attr:`version` passes ``since`` (or ``timeout`` seconds); the version."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._version <= since:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._version

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._cond:
            self._channels[channel_id] = name
            self._changed()

    def channel_name(self, channel_id: str) -> str | None:
        with self._cond:
            return self._channels.get(channel_id)

    def user(self, user_id: str) -> dict[str, Any] | None:
        with self._cond:
            user = self._users.get(user_id)
            return copy.deepcopy(user) if user else None

    def users(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(list(self._users.values()))

    def report_change(self) -> None:
        """Wake whoever waits for a change (something outside the stand-in changed)."""
        with self._cond:
            self._changed()

    def post_user_message(
        self, channel: str, user_id: str, text: str, *, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """A person's own message (what they typed that was not a slash command)."""
        with self._cond:
            channel = _resolve_channel(channel)
            ts = self._new_ts()
            message: dict[str, Any] = {
                "type": "message", "text": text, "ts": ts, "user": user_id, "team": TEAM_ID
            }
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._messages[(channel, ts)] = message | {"channel": channel}
            self._changed()
            return copy.deepcopy(message)

    def add_ephemeral(
        self,
        channel: str,
        user_id: str,
        *,
        text: str = "",
        blocks: list[dict[str, Any]] | None = None,
        hook: str | None = None,
        local: bool = False,
    ) -> str:
        """Show an ephemeral message (a command's answer in its ack); its id.

        ``hook`` names the response URL whose ``replace_original`` replaces it; ``local``
        marks what Slack itself shows the user (the command they ran, Slack's own errors).
        """
        with self._cond:
            ephemeral_id = self._add_ephemeral(channel, user_id, text, blocks, hook)
            self._ephemerals[-1]["local"] = local
            stored = self._hooks.get(hook) if hook else None
            if stored is not None and stored.follow:
                stored.original = ("ephemeral", ephemeral_id)
            return ephemeral_id

    def post_bot_message(
        self, channel: str, *, text: str = "", blocks: list[dict[str, Any]] | None = None
    ) -> str:
        """A message from the bot that did not come through the Web API (an in-channel ack)."""
        with self._cond:
            ts = self._new_ts()
            message: dict[str, Any] = {
                "type": "message", "subtype": "bot_message", "text": text, "ts": ts, "user": BOT_USER_ID,
                "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
            }
            if blocks is not None:
                message["blocks"] = copy.deepcopy(blocks)
            self._messages[(_resolve_channel(channel), ts)] = message | {"channel": _resolve_channel(channel)}
            self._changed()
            return ts

    def problems(self) -> list[Problem]:
        """Every refusal caused by what the bot sent, oldest first."""
        with self._cond:
            return list(self._problems)

    def report_problem(
        self, method: str, error: str, messages: list[str] | None = None, *, refused: bool = True
    ) -> None:
        """Add a problem found outside the Web API: Slack refusing an ack's body or a view in
        a response, or (``refused=False``) a request the bot did not answer as it should."""
        with self._cond:
            self._problems.append(Problem(method, error, tuple(messages or ()), time.time(), refused))
            self._changed()

    def open_modal(self, user_id: str) -> list[dict[str, Any]]:
        """The user's open modal stack, root first; empty when no modal is open."""
        with self._cond:
            root_id = self._modal.get(user_id)
            root = self._views.get(root_id) if root_id else None
            if root is None or root.closed:
                return []
            return [copy.deepcopy(self._views[v].view) for v in root.stack]

    def close_view(self, view_id: str, *, all_views: bool = False) -> list[dict[str, Any]]:
        """Close ``view_id`` as the user's *Cancel* (or a response's ``clear``) does.

        The top of a stack of several is popped; closing the root (or ``all_views``) closes
        the whole stack. Returns the views closed, top first. A closed view is gone:
        ``views.update`` answers ``not_found``.
        """
        with self._cond:
            stored = self._views.get(view_id)
            if stored is None or stored.closed:
                return []
            root = self._views[stored.view["root_view_id"]]
            if not all_views and len(root.stack) > 1 and root.stack[-1] == view_id:
                closing = [root.stack.pop()]
            else:
                closing = list(reversed(root.stack))
                if self._modal.get(root.user_id) == root.view["id"]:
                    del self._modal[root.user_id]
            closed = []
            for closing_id in closing:
                self._views[closing_id].closed = True
                closed.append(copy.deepcopy(self._views[closing_id].view))
            self._changed()
            return closed

    def respond_with_view(self, view_id: str, action: str, spec: Any) -> dict[str, Any]:
        """Apply a view submission's ``response_action`` ``update`` or ``push``; the new view.

        Raises:
            ViewRefused: Slack would refuse ``spec`` (also recorded as a problem).
        """
        with self._cond:
            stored = self._views.get(view_id)
            if stored is None or stored.closed:
                raise ViewRefused("not_found", [])
            try:
                checked = self._check_view(spec)
                if action == "update":
                    old = stored.view
                    new = self._new_view(checked, view_id=old["id"], root=old["root_view_id"])
                    new["previous_view_id"] = old["previous_view_id"]
                    stored.view = new
                else:
                    root = self._views[stored.view["root_view_id"]]
                    if len(root.stack) >= VIEW_STACK_MAX:
                        raise _Answer("push_limit_reached")
                    new = self._new_view(checked, root=root.view["id"])
                    new["previous_view_id"] = root.stack[-1]
                    root.stack.append(new["id"])
                    self._views[new["id"]] = _View(view=new, user_id=stored.user_id)
            except _Answer as answer:
                self._problems.append(
                    Problem(f"response_action {action}", answer.error, tuple(answer.messages), time.time())
                )
                self._changed()
                raise ViewRefused(answer.error, answer.messages) from None
            self._changed()
            return copy.deepcopy(new)

    # -- fault knobs ------------------------------------------------------------------------

    def fail_next(
        self, method: str, count: int = 1, status: int = 429, retry_after: float | None = 1
    ) -> None:
        """Answer the next ``count`` calls of ``method`` with HTTP ``status``.

        429 carries ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
        """
        error = "ratelimited" if status == 429 else "fatal_error"
        self._add_fault(method, _Fault("status", count, status=status, retry_after=retry_after, error=error))

    def error_next(self, method: str, error: str = "channel_not_found", count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with HTTP 200 ``{"ok": false, "error": error}``."""
        self._add_fault(method, _Fault("error", count, error=error))

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` answers to ``method`` for ``seconds`` (then answer normally)."""
        self._add_fault(method, _Fault("delay", count, seconds=seconds))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._cond:
            self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._cond:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    # -- request handling (called on server threads) -------------------------------------

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            problem = _problem_of(call)
            if problem is not None:
                self._problems.append(problem)
            self._changed()

    def _changed(self) -> None:
        """Count a change and wake whoever waits for one (lock held)."""
        self._version += 1
        self._cond.notify_all()

    def _handle_api(self, method: str, args: dict[str, Any], token: str | None) -> dict[str, Any]:
        handler = _METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if not token:
            return {"ok": False, "error": "not_authed"}
        if not token.startswith("xoxb-"):
            return {"ok": False, "error": "invalid_auth"}
        try:
            with self._cond:
                return handler(self, args)
        except _Answer as answer:
            body: dict[str, Any] = {"ok": False, "error": answer.error}
            if answer.messages:
                body["response_metadata"] = {"messages": answer.messages}
            return body

    def _handle_hook(self, name: str, body: Any) -> tuple[int, str]:
        with self._cond:
            hook = self._hooks.get(name)
            if hook is None:
                return 404, "no_service"
            if self._clock() - hook.issued > self._response_url_ttl:
                return 404, "expired_url"
            if hook.posts >= RESPONSE_URL_MAX_POSTS:
                return 404, "used_url"
            if not isinstance(body, dict):
                return 400, "invalid_payload"
            if not body.get("delete_original"):
                problems = validate_message(body)
                if problems:
                    no_content = not (body.get("text") or body.get("blocks") or body.get("attachments"))
                    return 400, "no_text" if no_content else "invalid_blocks"
            hook.posts += 1
            if hook.channel and hook.user:
                self._show_hook_post(hook, body)
            return 200, "ok"

    def _show_hook_post(self, hook: _Hook, body: dict[str, Any]) -> None:
        """Apply a response URL post to what the user sees (lock held)."""
        assert hook.channel is not None and hook.user is not None
        original = hook.original
        if body.get("delete_original") is True:
            if original is not None:
                self._delete(hook.channel, original)
            return
        content = {"text": body.get("text", ""), "blocks": copy.deepcopy(body.get("blocks"))}
        if body.get("replace_original") is True and original is not None and self._replace(
            hook.channel, original, content
        ):
            return
        if body.get("response_type") == "in_channel":
            self.post_bot_message(hook.channel, text=str(content["text"]), blocks=content["blocks"])
            return
        ephemeral_id = self._add_ephemeral(
            hook.channel, hook.user, content["text"], content["blocks"], hook.name
        )
        if hook.follow:
            hook.original = ("ephemeral", ephemeral_id)

    def _delete(self, channel: str, original: tuple[str, str]) -> None:
        kind, key = original
        if kind == "message":
            self._messages.pop((channel, key), None)
        else:
            self._ephemerals[:] = [e for e in self._ephemerals if e["id"] != key]

    def _replace(self, channel: str, original: tuple[str, str], content: dict[str, Any]) -> bool:
        kind, key = original
        if kind == "message":
            stored = self._messages.get((channel, key))
        else:
            stored = next((e for e in self._ephemerals if e["id"] == key), None)
        if stored is None:
            return False
        stored["text"], stored["blocks"] = content["text"], content["blocks"]
        return True

    def _add_ephemeral(
        self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None, hook: str | None
    ) -> str:
        ephemeral_id = f"E{next(self._ids)}"
        self._ephemerals.append(
            {
                "id": ephemeral_id,
                "channel": channel,
                "user": user,
                "ts": self._new_ts(),
                "text": text,
                "blocks": copy.deepcopy(blocks),
                "hook": hook,
            }
        )
        self._changed()
        return ephemeral_id

    # -- helpers used by the method handlers (lock held) -------------------------------------

    def _new_ts(self) -> str:
        """A message ts as Slack makes them: the time now, unique and increasing (lock held)."""
        micros = max(self._last_ts + 1, time.time_ns() // 1000)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _new_view_id(self) -> str:
        return f"V{next(self._ids):010d}"

    def _exchange_trigger(self, trigger_id: Any) -> _Trigger:
        if not trigger_id:
            raise _Answer("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        trigger = self._triggers.get(str(trigger_id))
        if trigger is None:
            raise _Answer("invalid_trigger_id")
        if trigger.used:
            raise _Answer("exchanged_trigger_id")
        if self._clock() - trigger.issued > self._trigger_ttl:
            raise _Answer("expired_trigger_id")
        trigger.used = True
        return trigger

    def _new_view(
        self, spec: dict[str, Any], *, view_id: str | None = None, root: str | None = None
    ) -> dict[str, Any]:
        view_id = view_id or self._new_view_id()
        return {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": spec.get("type"),
            "blocks": copy.deepcopy(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(spec.get("title")),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": None,
            "root_view_id": root or view_id,
            "app_id": APP_ID,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": TEAM_ID,
            "bot_id": BOT_ID,
        }

    def _check_view(self, view: Any) -> dict[str, Any]:
        if view is None:
            raise _Answer("invalid_arguments", ["[ERROR] missing required field: view"])
        problems = validate_view(view)
        if problems:
            raise _Answer("invalid_arguments", problems)
        if view_too_large(view):
            raise _Answer("view_too_large")
        assert isinstance(view, dict)
        return view

    def _check_external_id_free(self, external_id: Any, *, except_id: str | None = None) -> None:
        if not external_id:
            return
        for stored in self._views.values():
            if stored.view["external_id"] == external_id and stored.view["id"] != except_id:
                raise _Answer("duplicate_external_id")

    def _message_args(self, args: dict[str, Any]) -> None:
        problems = validate_message(args)
        if not problems:
            return
        if not (args.get("text") or args.get("blocks") or args.get("attachments")):
            raise _Answer("no_text", problems)
        raise _Answer("invalid_blocks", problems)


def _problem_of(call: Call) -> Problem | None:
    """The call as a :class:`Problem` when Slack refused what the bot sent in it."""
    if call.method == _RESPONSE_URL:
        if call.status != 400:
            return None
        return Problem("response_url", str(call.response), tuple(validate_message(call.args)), call.time)
    error = call.error
    if call.ok or error not in _PROBLEM_ERRORS:
        return None
    metadata = call.response.get("response_metadata") if isinstance(call.response, dict) else None
    messages = metadata.get("messages", []) if isinstance(metadata, dict) else []
    return Problem(call.method, error, tuple(str(m) for m in messages), call.time)


def _matches(predicate: Callable[[Call], bool] | None, call: Call) -> bool:
    if predicate is None:
        return True
    try:
        return bool(predicate(call))
    except (KeyError, IndexError, TypeError):
        return False


def _resolve_channel(channel: str) -> str:
    """A user id as channel means the bot's DM with that user."""
    if channel[:1] in ("U", "W"):
        return dm_channel_id(channel)
    return channel


def _require(args: dict[str, Any], name: str, error: str = "invalid_arguments") -> str:
    value = args.get(name)
    if value is None or value == "":
        raise _Answer(error, [f"[ERROR] missing required field: {name}"])
    return str(value)


# -- Web API methods (called with the stand-in's lock held) -----------------------------------


def _auth_test(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": f"https://{TEAM_DOMAIN}.slack.com/",
        "team": TEAM_NAME,
        "user": "cyclr",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def _chat_post_message(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    channel = _resolve_channel(_require(args, "channel", "channel_not_found"))
    s._message_args(args)
    ts = s._new_ts()
    message: dict[str, Any] = {
        "type": "message",
        "subtype": "bot_message",
        "text": args.get("text", ""),
        "ts": ts,
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": TEAM_ID,
    }
    for key in ("blocks", "attachments", "thread_ts", "metadata"):
        if args.get(key) is not None:
            message[key] = copy.deepcopy(args[key])
    s._messages[(channel, ts)] = message | {"channel": channel}
    return {"ok": True, "channel": channel, "ts": ts, "message": message}


def _chat_post_ephemeral(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    channel = _resolve_channel(_require(args, "channel", "channel_not_found"))
    user = _require(args, "user", "user_not_found")
    s._message_args(args)
    s._add_ephemeral(channel, user, str(args.get("text", "")), args.get("blocks"), None)
    return {"ok": True, "message_ts": s._ephemerals[-1]["ts"]}


def _chat_update(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    channel = _resolve_channel(_require(args, "channel", "channel_not_found"))
    ts = _require(args, "ts", "message_not_found")
    stored = s._messages.get((channel, ts))
    if stored is None:
        raise _Answer("message_not_found")
    s._message_args(args)
    for key in ("text", "blocks", "attachments", "metadata"):
        if key in args:
            stored[key] = copy.deepcopy(args[key])
    stored["edited"] = {"user": BOT_USER_ID, "ts": s._new_ts()}
    message = {k: v for k, v in stored.items() if k != "channel"}
    return {"ok": True, "channel": channel, "ts": ts, "text": stored.get("text", ""), "message": message}


def _conversations_open(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    if args.get("channel"):
        return {"ok": True, "channel": {"id": str(args["channel"])}}
    users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
    if not users:
        raise _Answer("users_list_not_supplied")
    if len(users) == 1:
        return {"ok": True, "channel": {"id": dm_channel_id(users[0])}}
    return {"ok": True, "channel": {"id": "G" + "".join(sorted(users))[:20]}}


def _views_open(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    spec = s._check_view(args.get("view"))
    s._check_external_id_free(spec.get("external_id"))
    trigger = s._exchange_trigger(args.get("trigger_id") or args.get("interactivity_pointer"))
    view = s._new_view(spec)
    s._views[view["id"]] = _View(view=view, user_id=trigger.user_id, stack=[view["id"]])
    s._modal[trigger.user_id] = view["id"]
    return {"ok": True, "view": copy.deepcopy(view)}


def _views_push(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    spec = s._check_view(args.get("view"))
    s._check_external_id_free(spec.get("external_id"))
    trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
    pending = s._triggers.get(str(trigger_id)) if trigger_id else None
    parent = s._views.get(pending.view_id) if pending and pending.view_id else None
    root = s._views[parent.view["root_view_id"]] if parent else None
    if root is not None and len(root.stack) >= VIEW_STACK_MAX:
        raise _Answer("push_limit_reached")
    trigger = s._exchange_trigger(trigger_id)
    if root is None:  # no modal open: Slack would open one
        view = s._new_view(spec)
        s._views[view["id"]] = _View(view=view, user_id=trigger.user_id, stack=[view["id"]])
        s._modal[trigger.user_id] = view["id"]
    else:
        view = s._new_view(spec, root=root.view["id"])
        view["previous_view_id"] = root.stack[-1]
        root.stack.append(view["id"])
        s._views[view["id"]] = _View(view=view, user_id=trigger.user_id)
    return {"ok": True, "view": copy.deepcopy(view)}


def _views_update(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    view_id, external_id = args.get("view_id"), args.get("external_id")
    if not view_id and not external_id:
        raise _Answer("invalid_arguments", ["[ERROR] must provide one of view_id, external_id"])
    spec = s._check_view(args.get("view"))
    if view_id:
        stored = s._views.get(str(view_id))
    else:
        stored = next((v for v in s._views.values() if v.view["external_id"] == external_id), None)
    if stored is None or stored.closed:
        raise _Answer("not_found")
    old = stored.view
    if args.get("hash") and args["hash"] != old["hash"]:
        raise _Answer("hash_conflict")
    if spec.get("type") != old["type"]:
        raise _Answer("invalid_arguments", ["[ERROR] view type cannot change [json-pointer:/view/type]"])
    s._check_external_id_free(spec.get("external_id"), except_id=old["id"])
    new = s._new_view(spec, view_id=old["id"], root=old["root_view_id"])
    new["previous_view_id"] = old["previous_view_id"]
    if not spec.get("external_id"):
        new["external_id"] = old["external_id"]
    stored.view = new
    return {"ok": True, "view": copy.deepcopy(new)}


def _views_publish(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    user_id = _require(args, "user_id")
    spec = s._check_view(args.get("view"))
    if spec.get("type") != "home":
        raise _Answer("invalid_arguments", ["[ERROR] must be home [json-pointer:/view/type]"])
    current_id = s._home.get(user_id)
    current = s._views[current_id] if current_id else None
    if current and args.get("hash") and args["hash"] != current.view["hash"]:
        raise _Answer("hash_conflict")
    view = s._new_view(spec, view_id=current_id)
    s._views[view["id"]] = _View(view=view, user_id=user_id)
    s._home[user_id] = view["id"]
    return {"ok": True, "view": copy.deepcopy(view)}


def _users_info(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    user = s._users.get(str(args.get("user") or ""))
    if user is None:
        raise _Answer("user_not_found")
    return {"ok": True, "user": copy.deepcopy(user)}


def _usergroups_users_list(s: SlackStandin, args: dict[str, Any]) -> dict[str, Any]:
    group = s._usergroups.get(str(args.get("usergroup") or ""))
    if group is None:
        raise _Answer("no_such_subteam")
    return {"ok": True, "users": list(group)}


_METHODS: dict[str, Callable[[SlackStandin, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _chat_post_message,
    "chat.postEphemeral": _chat_post_ephemeral,
    "chat.update": _chat_update,
    "conversations.open": _conversations_open,
    "views.open": _views_open,
    "views.push": _views_push,
    "views.update": _views_update,
    "views.publish": _views_publish,
    "users.info": _users_info,
    "usergroups.users.list": _usergroups_users_list,
}


# -- HTTP ------------------------------------------------------------------------------------------


def _parse_args(query: str, content_type: str, raw: bytes) -> tuple[dict[str, Any], Any]:
    """Merge query-string and body arguments; decode JSON-string Block Kit arguments."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    body: Any = None
    if raw:
        if content_type.startswith("application/json"):
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            if isinstance(body, dict):
                args.update(body)
        else:
            body = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
            args.update(body)
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args, body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 makes bursts of clients wait for SYN retries
    standin: SlackStandin


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SlackStandin/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        assert isinstance(self.server, _Server)
        standin = self.server.standin
        arrived = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        args, body = _parse_args(parts.query, self.headers.get("Content-Type", ""), raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if parts.path.startswith("/api/"):
            method, hook = parts.path[len("/api/") :], None
        elif parts.path.startswith("/hooks/"):
            method, hook = _RESPONSE_URL, parts.path[len("/hooks/") :]
            args = body if isinstance(body, dict) else {}
        else:
            self._send(404, "text/plain", b"not found")
            return
        call = Call(
            method=method, args=args, headers=headers, time=arrived, http_method=self.command, hook=hook
        )

        fault = standin._take_fault(method)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "status":
            extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            answer: Any = {"ok": False, "error": fault.error}
            self._reply(standin, call, fault.status, answer, extra)
            return
        if fault is not None:  # "error"
            self._reply(standin, call, 200, {"ok": False, "error": fault.error})
            return

        if hook is not None:
            status, text = standin._handle_hook(hook, body)
            self._reply(standin, call, status, text)
            return
        token = call.token
        self._reply(standin, call, 200, standin._handle_api(method, args, token))

    def _reply(
        self, standin: SlackStandin, call: Call, status: int, answer: Any, extra: dict[str, str] | None = None
    ) -> None:
        # Record before answering so that a client that saw the answer also sees the call.
        standin._record(
            Call(
                method=call.method,
                args=call.args,
                headers=call.headers,
                time=call.time,
                http_method=call.http_method,
                status=status,
                response=answer,
                hook=call.hook,
            )
        )
        if isinstance(answer, dict):
            self._send(status, "application/json; charset=utf-8", json.dumps(answer).encode(), extra)
        else:
            self._send(status, "text/html", str(answer).encode(), extra)

    def _send(
        self, status: int, content_type: str, payload: bytes, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

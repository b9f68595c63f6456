"""What the bot hands Slack to carry and gets back: modal metadata and button values, sealed.

Slack returns a modal's ``private_metadata`` and a button's ``value`` as the bot wrote them,
but they arrive as fields of a request body, so the bot believes them only when they carry
its own seal: an HMAC-SHA256 over a purpose (``modal`` or ``button``), the Slack user the value
was made for, and the value. A value altered, made up, or lifted into another user's request
fails the check and counts as absent.

Why a seal rather than keeping the state server-side: the modal's metadata must survive any
replica or worker answering the next request, and a table of per-view state would need
writes before the ack and pruning afterwards; a seal needs neither. Why a key derived from
the bot token: it is the one secret every process has in both modes (Socket Mode may run
without a signing secret), and all processes of one app share it. Rotating the token makes
open install forms say "out of date" and turns sealed buttons back into plain ones (checked
against the channel they are clicked in), which is the safe direction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.slack.ids import encode_value

__all__ = ["MAX_METADATA", "ActivateMeta", "CredentialsMeta", "DeployMeta", "ModalMeta", "Sealer"]

MAX_METADATA = 3000
_SEAL_FIELD = "s"  #: the seal's field in a button value


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class Sealer:
    """Seals and checks values the bot gives Slack to hand back."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "Sealer(…)"

    @classmethod
    def for_bot_token(cls, bot_token: str) -> Sealer:
        """A sealer whose key is derived from the bot token (never the token itself)."""
        return cls(hmac.new(bot_token.encode(), b"cyclr-bot seal key v1", hashlib.sha256).digest())

    def _mac(self, purpose: str, user_id: str, text: str) -> str:
        # surrogatepass: text decoded from JSON may hold lone surrogates; they must not raise.
        message = "\x00".join(("v1", purpose, user_id, text)).encode("utf-8", "surrogatepass")
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    def _matches(self, mac: str, purpose: str, user_id: str, text: str) -> bool:
        return mac.isascii() and hmac.compare_digest(mac.encode(), self._mac(purpose, user_id, text).encode())

    def seal(self, purpose: str, user_id: str, text: str) -> str:
        """``<seal>.<text>``: ``text`` as given, for ``user_id`` only."""
        return f"{self._mac(purpose, user_id, text)}.{text}"

    def unseal(self, purpose: str, user_id: str, sealed: object) -> str | None:
        """The text :meth:`seal` wrapped, or None when ``sealed`` is not the bot's for ``user_id``."""
        if not isinstance(sealed, str) or "." not in sealed or not user_id:
            return None
        mac, text = sealed.split(".", 1)
        return text if self._matches(mac, purpose, user_id, text) else None

    def button_value(self, user_id: str, data: Mapping[str, Any]) -> str:
        """A button value (compact JSON, as :func:`~bot.slack.ids.encode_value`) carrying a seal
        for ``user_id``; :func:`~bot.slack.ids.decode_value` reads it like any other."""
        fields = {k: v for k, v in data.items() if k != _SEAL_FIELD}
        return encode_value(fields | {_SEAL_FIELD: self._mac("button", user_id, _canonical(fields))})

    def value_sealed_for(self, user_id: str, data: Mapping[str, Any]) -> bool:
        """Whether a decoded button value carries the bot's seal for ``user_id``."""
        mac = data.get(_SEAL_FIELD)
        if not isinstance(mac, str) or not user_id:
            return False
        fields = {k: v for k, v in data.items() if k != _SEAL_FIELD}
        return self._matches(mac, "button", user_id, _canonical(fields))


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _load(sealer: Sealer, purpose: str, user_id: str, text: object) -> dict[str, Any] | None:
    """The JSON object sealed for ``purpose`` and ``user_id``, or None for anything else."""
    opened = sealer.unseal(purpose, user_id, text)
    try:
        data = json.loads(opened) if opened is not None else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _dump(sealer: Sealer, purpose: str, user_id: str, data: Mapping[str, Any]) -> str:
    """``data`` without its None values, as compact JSON sealed for ``purpose`` and ``user_id``."""
    text = json.dumps({k: v for k, v in data.items() if v is not None}, separators=(",", ":"))
    return sealer.seal(purpose, user_id, text)


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass(frozen=True, slots=True)
class ModalMeta:
    """What the install modal carries in ``private_metadata``: where it was opened and on which
    account, sealed for the user it was opened for. Team and user are never carried: they come
    from the request body Slack signed."""

    channel_id: str | None
    account_id: str
    auto_name: str | None = None  #: the name the bot last filled in
    previous_auto_name: str | None = None

    def dumps(self, sealer: Sealer, user_id: str) -> str:
        data = {"c": self.channel_id, "a": self.account_id, "n": self.auto_name, "o": self.previous_auto_name}
        sealed = _dump(sealer, "modal", user_id, data)
        if len(sealed) <= MAX_METADATA:
            return sealed
        # The names are only hints for the name field; the place must fit.
        return ModalMeta(self.channel_id, self.account_id).dumps(sealer, user_id)

    @classmethod
    def loads(cls, sealer: Sealer, user_id: str, text: object) -> ModalMeta | None:
        """None for anything that is not metadata this bot wrote for ``user_id``."""
        data = _load(sealer, "modal", user_id, text)
        if data is None:
            return None
        account = data.get("a")
        if not isinstance(account, str) or not account:
            return None

        def text_or_none(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        return cls(text_or_none("c"), account, text_or_none("n"), text_or_none("o"))


@dataclass(frozen=True, slots=True)
class ActivateMeta:
    """What the activate modal carries in ``private_metadata``, sealed for the user it was
    opened for: where it was opened, the cycle, and the listing to update with the outcome.
    Team and user come from the request body Slack signed; the account is checked against
    the user's access again when the modal is submitted."""

    channel_id: str | None
    account_id: str
    cycle_id: str
    page: int = 0
    response_url: str | None = None
    #: The deploy whose checklist the modal was opened from: the outcome goes there.
    deploy_id: int | None = None

    def dumps(self, sealer: Sealer, user_id: str) -> str:
        data = {
            "c": self.channel_id,
            "a": self.account_id,
            "cy": self.cycle_id,
            "p": self.page,
            "r": self.response_url,
            "d": self.deploy_id,
        }
        sealed = _dump(sealer, "activate", user_id, data)
        if len(sealed) <= MAX_METADATA or self.response_url is None:
            return sealed
        # The listing's response_url is a courtesy (the outcome is told anyway): the rest must fit.
        return ActivateMeta(
            self.channel_id, self.account_id, self.cycle_id, self.page, deploy_id=self.deploy_id
        ).dumps(sealer, user_id)

    @classmethod
    def loads(cls, sealer: Sealer, user_id: str, text: object) -> ActivateMeta | None:
        """None for anything that is not metadata this bot wrote for ``user_id``."""
        data = _load(sealer, "activate", user_id, text)
        if data is None:
            return None
        account, cycle, page = data.get("a"), data.get("cy"), data.get("p", 0)
        if not (isinstance(account, str) and account and isinstance(cycle, str) and cycle):
            return None
        channel, url, deploy = data.get("c"), data.get("r"), data.get("d")
        return cls(
            channel if isinstance(channel, str) and channel else None,
            account,
            cycle,
            page if isinstance(page, int) and not isinstance(page, bool) and page >= 0 else 0,
            url if isinstance(url, str) and url else None,
            deploy if isinstance(deploy, int) and not isinstance(deploy, bool) and deploy > 0 else None,
        )


@dataclass(frozen=True, slots=True)
class DeployMeta:
    """The deploy modal's ``private_metadata``, sealed for its user: where it was opened and
    the account it started on. The account submitted is checked against the user's access."""

    channel_id: str | None
    account_id: str

    def dumps(self, sealer: Sealer, user_id: str) -> str:
        return _dump(sealer, "deploy", user_id, {"c": self.channel_id, "a": self.account_id})

    @classmethod
    def loads(cls, sealer: Sealer, user_id: str, text: object) -> DeployMeta | None:
        data = _load(sealer, "deploy", user_id, text)
        if data is None or not isinstance(data.get("a"), str) or not data["a"]:
            return None
        channel = data.get("c")
        return cls(channel if isinstance(channel, str) and channel else None, data["a"])


@dataclass(frozen=True, slots=True)
class CredentialsMeta:
    """The credentials modal's ``private_metadata``, sealed for its user: which installed
    connector of which account (and deploy) the value is for. Never the value itself."""

    account_id: str
    account_connector_id: int
    deploy_id: int
    login: bool
    connector_name: str = ""

    def dumps(self, sealer: Sealer, user_id: str) -> str:
        data = {
            "a": self.account_id,
            "ac": self.account_connector_id,
            "d": self.deploy_id,
            "l": self.login,
            "n": self.connector_name[:200],
        }
        return _dump(sealer, "credentials", user_id, data)

    @classmethod
    def loads(cls, sealer: Sealer, user_id: str, text: object) -> CredentialsMeta | None:
        data = _load(sealer, "credentials", user_id, text)
        if data is None:
            return None
        account, connector, deploy = data.get("a"), _positive(data.get("ac")), _positive(data.get("d"))
        if not isinstance(account, str) or not account or connector is None or deploy is None:
            return None
        name = data.get("n")
        return cls(account, connector, deploy, data.get("l") is True, name if isinstance(name, str) else "")

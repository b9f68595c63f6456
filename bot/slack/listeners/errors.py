"""The one global error handler, and the wrapper that gives background jobs the same care.

A user who meets an error sees a short message with a reference id; the log has the
traceback (through the redacting handler) under the same id.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse

from bot.logs import reference_id
from bot.slack import blocks
from bot.slack.messenger import SlackMessenger
from bot.store import unavailable

__all__ = ["DATABASE_DOWN", "new_reference", "register", "user_job"]

#: What a user is told when the store did not answer in time (its timeouts: bot.store.engine).
DATABASE_DOWN = "The bot's database is not answering; try again in a minute."

log = logging.getLogger(__name__)


def new_reference() -> str:
    """A short id a user can quote to support, e.g. ``E-3F9A1C``."""
    return "E-" + secrets.token_hex(3).upper()


def _where(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(response_url, user_id, channel_id) of a request body, whatever its kind."""
    user = body.get("user")
    user_id = body.get("user_id") or (user.get("id") if isinstance(user, dict) else None)
    channel = body.get("channel")
    channel_id = body.get("channel_id") or (channel.get("id") if isinstance(channel, dict) else None)
    return body.get("response_url"), user_id, channel_id


def _failure(messenger: SlackMessenger, ref: str, *, down: bool) -> blocks.Message:
    if down:
        text = f":hourglass: {DATABASE_DOWN} (reference {ref})"
        return blocks.notice_message(text, sandbox=messenger.sandbox)
    return blocks.error_message(
        "Something went wrong on my side, and it is logged.", ref=ref, sandbox=messenger.sandbox
    )


def register(app: App, messenger: SlackMessenger) -> None:
    @app.error
    def handle_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None
    ) -> BoltResponse | None:
        ref = reference_id.get() or new_reference()
        down = unavailable(error)
        if down:  # no traceback: it says nothing the database's own logs do not
            log.error(
                "the database did not answer (ref %s) in a %s request: %s",
                ref,
                body.get("type") or "command",
                type(error).__name__,
            )
        else:
            log.error(
                "unhandled error (ref %s) in a %s request", ref, body.get("type") or "command", exc_info=error
            )
        message = _failure(messenger, ref, down=down)
        if response is not None:  # not yet acknowledged: the answer itself carries the message
            if body.get("command"):
                payload: dict[str, Any] = {
                    "response_type": "ephemeral",
                    "text": message.text,
                    "blocks": message.blocks,
                }
                return BoltResponse(
                    status=200, body=json.dumps(payload), headers={"content-type": "application/json"}
                )
            field = _first_input(body.get("view")) if body.get("type") == "view_submission" else None
            if field is not None:  # the modal stays open, saying so, with what was typed kept
                payload = {
                    "response_action": "errors",
                    "errors": {
                        field: f"{DATABASE_DOWN} (reference {ref})"
                        if down
                        else f"Something went wrong (reference {ref}). Please try again."
                    },
                }
                return BoltResponse(
                    status=200, body=json.dumps(payload), headers={"content-type": "application/json"}
                )
            if body.get("type") == "block_suggestion":  # the picker's list is the only place to say it
                said = "The bot's database is not answering" if down else "Something went wrong"
                payload = {"options": blocks.options_placeholder(f"{said} (reference {ref})")}
                return BoltResponse(
                    status=200, body=json.dumps(payload), headers={"content-type": "application/json"}
                )
        response_url, user_id, channel_id = _where(body)
        try:
            messenger.respond(response_url, message, user_id=user_id, channel_id=channel_id)
        except Exception:
            log.exception("could not tell the user about error %s", ref)
        if response is not None:
            return BoltResponse(status=200, body="")
        return None


def _first_input(view: Any) -> str | None:
    """The block id of a modal's first input: where a failed submission says why."""
    shown = view.get("blocks") if isinstance(view, dict) else None
    for block in shown if isinstance(shown, list) else []:
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block.get("type") == "input" and isinstance(block_id, str):
            return block_id
    return None


def user_job(
    messenger: SlackMessenger,
    fn: Callable[[], None],
    *,
    response_url: str | None = None,
    user_id: str | None = None,
    channel_id: str | None = None,
) -> Callable[[], None]:
    """Wrap a background job: on failure, log it with a reference and tell the user."""

    def run() -> None:
        ref = new_reference()
        token = reference_id.set(ref)
        try:
            fn()
        except Exception as error:
            log.exception("background job failed (ref %s)", ref)
            message = _failure(messenger, ref, down=unavailable(error))
            try:
                messenger.respond(response_url, message, user_id=user_id, channel_id=channel_id)
            except Exception:
                log.exception("could not tell the user about error %s", ref)
        finally:
            reference_id.reset(token)

    return run

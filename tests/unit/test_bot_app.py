"""BotApp counts the requests it is answering, whichever adapter dispatches them."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from bot.jobs import Foreground
from bot.playground import payloads as sr
from bot.slack.app import BotApp


def test_a_request_counts_as_answered_until_its_listener_has_acked() -> None:
    foreground = Foreground()
    app = BotApp(
        foreground,
        signing_secret=sr.SIGNING_SECRET,
        authorize=lambda **_: AuthorizeResult(enterprise_id=None, team_id=sr.TEAM_ID, bot_token="xoxb-1"),
        process_before_response=True,
    )
    seen: list[int] = []

    @app.command("/cyclr")
    def command(ack: Ack, **_: Any) -> None:
        seen.append(foreground.active)
        ack()

    body, headers = sr.slash_command_request("help")
    response = app.dispatch(BoltRequest(body=body.decode(), headers=headers))
    assert response.status == 200
    assert seen == [1]  # counted while the listener ran
    assert foreground.active == 0  # and no longer once it answered

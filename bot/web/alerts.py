"""``POST /cyclr/webhook/<secret>``: Cyclr's transaction error webhook for subscribed accounts.

The call is not signed; the secret in the path (one per account, stored only as a hash and
compared in constant time) is what says it is Cyclr's. An unknown secret gets 404 and one
short log line that does not quote it. A known one is acknowledged at once: the payload, its
detail already redacted, becomes an ``alert-webhook`` job.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request

from bot.services.alerts import ALERT_WEBHOOK
from bot.services.container import Services
from bot.services.redaction import redact_detail

__all__ = ["alert_webhook"]

log = logging.getLogger(__name__)

_MAX_SECRET = 128
_REDACTED_FIELDS = ("Detail", "FullMessage", "Message", "ShortMessage")


def alert_webhook(services: Services) -> Blueprint:
    pages = Blueprint("alert_webhook", __name__)

    @pages.post("/cyclr/webhook/<secret>")
    def webhook(secret: str) -> tuple[Response, int]:
        account_id = services.alerts.account_for_secret(secret) if len(secret) <= _MAX_SECRET else None
        if account_id is None:
            log.info(
                "alert webhook: unknown secret (%d characters) from %s", len(secret), request.remote_addr
            )
            return jsonify(ok=False, error="Not Found"), 404
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(ok=False, error="a JSON object is expected"), 400
        # The job's payload is stored: nothing secret goes in it.
        for name in _REDACTED_FIELDS:
            if isinstance(body.get(name), str):
                body[name] = redact_detail(body[name])
        services.alerts.queue.enqueue(ALERT_WEBHOOK, {"account": account_id, "body": body})
        return jsonify(ok=True), 200

    return pages

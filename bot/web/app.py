"""Flask app: Bolt's adapter at ``POST /slack/events`` and ``GET /healthz``.

Every error answers with a short JSON body and a 4xx/5xx status; no stack trace reaches a
client. Bodies over 1 MiB are refused before Bolt reads them (Slack's are a few kB).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from werkzeug.exceptions import HTTPException

from bot import __version__
from bot.services.container import Services
from bot.store import StoreUnavailable
from bot.web.alerts import alert_webhook
from bot.web.events import register_events
from bot.web.pages import link_pages

__all__ = ["MAX_BODY", "create_web_app"]

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def create_web_app(services: Services, bolt_app: App | None, *, socket_connected: Any = None) -> Flask:
    """The web app; ``bolt_app`` None serves only the link pages and health (Socket Mode)."""
    web = Flask("cyclr-bot")
    web.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    if services.settings.public_url:
        web.register_blueprint(link_pages(services))
    if bolt_app is not None:
        register_events(web, bolt_app, services.settings.slack_signing_secret or "")
    if services.settings.public_url:
        web.register_blueprint(alert_webhook(services))

    @web.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            services.store.ping()
        except StoreUnavailable as error:
            return jsonify(ok=False, error=f"the state store does not answer ({error})"), 503
        try:
            services.store.probe_write()
        except StoreUnavailable as error:
            return jsonify(ok=False, error=f"the state store does not take writes ({error})"), 503
        body: dict[str, Any] = {
            "ok": True,
            "version": __version__,
            "sandbox": services.sandbox,
            "after_ack_pending": services.after_ack.pending,
        }
        if socket_connected is not None:
            body["socket_mode_connected"] = bool(socket_connected())
            if not body["socket_mode_connected"]:
                return jsonify(body | {"ok": False, "error": "Socket Mode is not connected"}), 503
        return jsonify(body), 200

    @web.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        return jsonify(ok=False, error=error.name), error.code or 500

    @web.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return jsonify(ok=False, error="internal error"), 500

    return web

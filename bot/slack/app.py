"""Builds the Bolt app: Web API client, listeners, middleware and the error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.config import Settings
from bot.logs import reference_id
from bot.services.access import UserDirectory
from bot.services.container import Services
from bot.slack.listeners import register_listeners
from bot.slack.listeners.errors import new_reference
from bot.slack.messenger import SlackMessenger
from bot.slack.middleware import AccessMiddleware
from bot.slack.sealed import Sealer

__all__ = ["create_app", "make_messenger", "make_web_client"]

#: Bolt's listener pool: listeners only ack and hand off, so a modest pool is plenty; slow
#: work is a job in the queue, never here.
LISTENER_THREADS = 16


def make_web_client(settings: Settings) -> WebClient:
    """A Web API client on ``SLACK_API_URL`` retrying connection errors and 429 (Retry-After)."""
    return WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


class AttachReference(Middleware):
    """Gives each request the reference id its log lines and any error message carry."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        ref = new_reference()
        req.context["ref"] = ref
        reference_id.set(ref)
        next()
        return resp


def make_messenger(services: Services, client: WebClient | None = None) -> SlackMessenger:
    """The messenger that posts the bot's messages (intake and worker each have one)."""
    client = client or make_web_client(services.settings)
    return SlackMessenger(client, services, Sealer.for_bot_token(services.settings.slack_bot_token))


def create_app(services: Services, *, client: WebClient | None = None) -> tuple[App, SlackMessenger]:
    """The Bolt app and the messenger it posts with."""
    settings = services.settings
    client = client or make_web_client(settings)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        token_verification_enabled=False,  # auth.test happens on the first request instead
        # bot.web.events verifies each HTTP request on its raw bytes before dispatching it;
        # Bolt's check would decode first and log the body it refuses. (Socket Mode has no
        # signature to check: Bolt skipped it there anyway.)
        request_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(
            max_workers=LISTENER_THREADS, thread_name_prefix="bolt-listener"
        ),
        logger=logging.getLogger("bot.slack.bolt"),
        raise_error_for_unhandled_request=False,
        # Listeners ack and hand off at once, so run them on the request's own thread: Bolt
        # otherwise polls for the ack every 10 ms, and loses an ack whose listener raises later.
        process_before_response=True,
    )
    messenger = make_messenger(services, client)

    app.middleware(AttachReference())

    # The access check runs before the ack: its lookups fail fast instead of waiting out a
    # Slack 429 (the refusal says "try again"), unlike the client that posts messages.
    lookups = WebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=2,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=1)],
    )
    users = UserDirectory(
        lambda user_id: lookups.users_info(user=user_id)["user"],
        lambda group_id: lookups.usergroups_users_list(usergroup=group_id)["users"],
        groups=settings.admins + settings.installers,
    )
    app.middleware(AccessMiddleware(services, messenger, users))
    register_listeners(app, services, messenger)
    return app, messenger

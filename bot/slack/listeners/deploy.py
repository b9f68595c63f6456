"""*Deploy* (the ``cyclr_deploy`` modal) and the checklist's *Authorise*, *Enter key* and
*Enter login* (the ``cyclr_credentials`` modal).

The access middleware has checked, before any of these runs, that the user may deploy
(installers and admins) or authorise on the account the button or the modal names; the
openers (*Deploy*, App Home's *Deploy a template*) are checked here, just after the ack, as
the install modal's are. Nothing here calls Cyclr before the ack.

Credentials typed into the credentials modal go to Cyclr (``set_connector_auth``) from this
process's memory, just after the ack, and nowhere else: not the store, not a job's payload,
not a log line, not a message. The job that is held for them carries only which connector;
if this process dies, a worker that takes the job over asks the user to enter them again.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient

from bot.after_ack import JobRejected
from bot.cyclr.errors import CyclrError, CyclrNotFound
from bot.cyclr.models import Account, Template
from bot.services.access import Action
from bot.services.accounts import ACK_WAIT
from bot.services.container import Services
from bot.services.templates import TemplateLibrary
from bot.slack import blocks
from bot.slack.deploys import CREDENTIALS, enqueue_deploy, tell_deploy
from bot.slack.forms import input_value, state_values
from bot.slack.ids import (
    API_KEY,
    CREDENTIALS_CALLBACK,
    DEPLOY_AUTHORISE,
    DEPLOY_CALLBACK,
    DEPLOY_CREDENTIALS,
    HOME_DEPLOY,
    NO_OPTION,
    PASSWORD,
    TEMPLATE,
    TEMPLATE_DEPLOY,
    USERNAME,
    decode_value,
)
from bot.slack.listeners.background import Surface
from bot.slack.listeners.connectors import ConnectorActions
from bot.slack.messenger import SlackMessenger
from bot.slack.middleware import ACCESS, Access
from bot.slack.sealed import CredentialsMeta, DeployMeta

__all__ = ["DeployActions", "register"]

log = logging.getLogger(__name__)

_MAX_TEMPLATE_ID = 150
_OUT_OF_DATE = "That button is out of date. Run `/cyclr templates` again."


def _template_id(value: object) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_TEMPLATE_ID or value == NO_OPTION:
        return None
    return value if value.isprintable() and value.strip() == value else None


def _selected_text(values: Mapping[str, Mapping[str, Any]], block_id: str) -> str | None:
    element = (values.get(block_id) or {}).get(block_id)
    option = element.get("selected_option") if isinstance(element, Mapping) else None
    text = option.get("text") if isinstance(option, Mapping) else None
    words = text.get("text") if isinstance(text, Mapping) else None
    return words if isinstance(words, str) and words.strip() else None


class DeployActions(Surface):
    """The deploy modal and the checklist's buttons."""

    def __init__(self, services: Services, messenger: SlackMessenger) -> None:
        super().__init__(services, messenger)
        self.connectors = ConnectorActions(services, messenger)

    @property
    def library(self) -> TemplateLibrary:
        return self.services.templates

    # -- the deploy modal ------------------------------------------------------------------------

    def open(
        self, client: WebClient, body: dict[str, Any], access: Access, template: tuple[str, str] | None
    ) -> None:
        """Just after the ack: check access, then open the modal (the trigger lives 3 s)."""
        response_url = body.get("response_url") if isinstance(body.get("response_url"), str) else None
        refusal = access.refused(Action.INSTALL)
        if refusal is not None:
            self.messenger.respond(
                response_url, refusal, user_id=access.user_id, channel_id=access.channel_id
            )
            return
        account_id = access.account or access.channel_account
        view = blocks.deploy_modal(
            # From the button itself: opening the modal never waits on Cyclr (the trigger lives 3 s).
            template=Template(template[0], template[1]) if template else None,
            account=Account(account_id, self.services.accounts.name_of(account_id)),
            metadata=DeployMeta(access.channel_id, account_id).dumps(self.messenger.sealer, access.user_id),
            sandbox=self.sandbox,
        )
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)

    def template_options(self, access: Access, query: str) -> list[dict[str, Any]]:
        meta = access.deploy
        if meta is None:
            return blocks.options_placeholder("This form is out of date")
        try:
            found = self.library.search(meta.account_id, query, limit=100, wait=ACK_WAIT)
        except TimeoutError:
            return blocks.options_placeholder("Still loading the templates… type again in a moment")
        except CyclrError as error:
            return blocks.options_placeholder(f"Cyclr is not answering ({error.user_message})"[:75])
        if not found:
            return blocks.options_placeholder(f"No template matches “{query[:40]}”")
        return [blocks.template_option(t) for t in found]

    def submit(self, ack: Ack, view: dict[str, Any], access: Access) -> None:
        """Record the deploy (one row per modal: a double submit finds it), queue its job."""
        meta, account = access.deploy, access.account
        if meta is None or account is None:  # the middleware refuses these; never trust a body
            ack(response_action="errors", errors={TEMPLATE: "This form is out of date."})
            return
        values = state_values(view)
        template_id = _template_id(input_value(values, TEMPLATE))
        if template_id is None or not view.get("id"):
            ack(response_action="errors", errors={TEMPLATE: "Choose a template to deploy."})
            return
        name = _selected_text(values, TEMPLATE) or template_id
        try:  # this process's copy, when it has one (the picker just used it): never waits
            known = self.library.find(meta.account_id, template_id, wait=0)
        except (TimeoutError, CyclrError):
            known = None  # not loaded here: the name shown is the option's; Cyclr checks the id
        else:
            if known is None:
                ack(response_action="errors", errors={TEMPLATE: "That template is not in the library."})
                return
        if known is not None:
            name = known.name
        with self.services.store.transaction():  # the row and its job, or neither
            deploy, created = self.services.store.begin_deploy(
                request_key=f"view:{view.get('id')}",
                team_id=access.team_id,
                user_id=access.user_id,
                channel_id=meta.channel_id,
                account_id=account,
                template_id=template_id,
                template_name=name,
            )
            if created:
                enqueue_deploy(self.services, deploy, view_id=str(view.get("id") or "") or None)
        account_name = self.services.accounts.name_of(account)
        if not created and deploy.state.is_final:  # a repeat after the outcome: show it again
            ack(
                response_action="update",
                view=blocks.deploy_outcome_view(deploy, account_name=account_name, sandbox=self.sandbox),
            )
            return
        ack(
            response_action="update",
            view=blocks.deploy_progress_view(
                template_name=deploy.template_name,
                account_name=account_name,
                detail=None if created else "This form was already submitted.",
                sandbox=self.sandbox,
            ),
        )

    # -- the checklist's buttons -----------------------------------------------------------------

    def _target(self, action: dict[str, Any]) -> tuple[str, int, int] | None:
        value = decode_value(action.get("value"))
        account, connector, deploy = value.get("a"), value.get("ac"), value.get("d")
        ints = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (connector, deploy))
        if not isinstance(account, str) or not ints:
            return None
        assert isinstance(connector, int) and isinstance(deploy, int)
        return account, connector, deploy

    def authorise(self, body: dict[str, Any], action: dict[str, Any], access: Access) -> None:
        """*Authorise*: a fresh sign-in link in a DM of its own (the checklist stays), watched
        until the connector is authorised; the checklist is brought up to date."""
        target = self._target(action)
        if target is None or access.account is None:
            self._reply(body, access, _OUT_OF_DATE)
            return
        account, connector, deploy = target
        try:
            self.connectors.send_link(
                team_id=access.team_id,
                user_id=access.user_id,
                account_id=access.account,
                account_connector_id=connector,
            )
        except CyclrNotFound:
            self._reply(body, access, "That connector is no longer installed. See `/cyclr list`.")
        tell_deploy(self.services, deploy)

    def open_credentials(
        self, client: WebClient, body: dict[str, Any], action: dict[str, Any], access: Access
    ) -> None:
        target = self._target(action)
        if target is None or access.account is None:
            self._reply(body, access, _OUT_OF_DATE)
            return
        _, connector, deploy = target
        value = decode_value(action.get("value"))
        raw_name = value.get("n")
        name = raw_name if isinstance(raw_name, str) else ""
        meta = CredentialsMeta(access.account, connector, deploy, value.get("k") == "login", name)
        view = blocks.credentials_modal(
            connector_name=name or "the connector",
            login=meta.login,
            metadata=meta.dumps(self.messenger.sealer, access.user_id),
            sandbox=self.sandbox,
        )
        client.views_open(trigger_id=str(body.get("trigger_id") or ""), view=view)

    def submit_credentials(self, ack: Ack, view: dict[str, Any], access: Access) -> None:
        """Send the value to Cyclr from this process's memory, just after the ack."""
        meta, account = access.credentials, access.account
        if meta is None or account is None:
            ack(response_action="errors", errors={API_KEY: "This form is out of date."})
            return
        values = state_values(view)
        if meta.login:
            username, password = input_value(values, USERNAME) or "", input_value(values, PASSWORD) or ""
            if not username.strip() or not password:
                field = USERNAME if not username.strip() else PASSWORD
                ack(response_action="errors", errors={field: "Enter the username and the password."})
                return
            if ":" in username:
                ack(response_action="errors", errors={USERNAME: "A username cannot contain “:”."})
                return
            secret = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        else:
            secret = (input_value(values, API_KEY) or "").strip()
            if not secret:
                ack(response_action="errors", errors={API_KEY: "Enter the API key."})
                return
        services = self.services
        key = f"{CREDENTIALS}:{view.get('id')}"  # a double submit is the same view: one PUT
        if services.queue.find(kind=CREDENTIALS, key=key):  # already sent (or being sent)
            ack()
            return
        job = services.queue.hold(
            CREDENTIALS,
            {"deploy": meta.deploy_id, "account": account, "connector": meta.account_connector_id},
            key=key,  # while it is held, a concurrent repeat gets None here
            owner=services.owner,
            lease=services.settings.job_lease,
        )
        if job is None:
            ack()
            return
        label = meta.connector_name or "the connector"
        what = "login" if meta.login else "key"

        def send() -> None:
            notice = f"Saved: Cyclr accepted the {what} for {label}."
            try:
                installed = services.cyclr.set_connector_auth(account, meta.account_connector_id, secret)
                if not installed.authenticated:
                    notice = f"Cyclr took the {what} for {label} but did not confirm it: check it."
            except CyclrError as error:  # scrubbed of the value by the client
                notice = f"Cyclr did not accept the {what} for {label}: {error.user_message}"
            except ValueError:
                notice = f"That {what} cannot be sent to Cyclr."
            finally:
                services.queue.complete(job, {"sent": True})
            tell_deploy(services, meta.deploy_id, notice=notice)

        try:
            services.after_ack.submit("credentials", send)
        except JobRejected:
            services.queue.complete(job, {"rejected": True})
            ack(
                response_action="errors",
                errors={USERNAME if meta.login else API_KEY: "I'm very busy. Try again."},
            )
            return
        ack()

    def _reply(self, body: dict[str, Any], access: Access, text: str) -> None:
        self.messenger.respond(
            body.get("response_url") if isinstance(body.get("response_url"), str) else None,
            blocks.notice_message(text, sandbox=self.sandbox),
            user_id=access.user_id,
            channel_id=access.channel_id,
        )


def register(app: App, actions: DeployActions) -> None:
    @app.view(DEPLOY_CALLBACK)
    def deploy_submitted(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        actions.submit(ack, view, context[ACCESS])

    @app.view(CREDENTIALS_CALLBACK)
    def credentials_submitted(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        actions.submit_credentials(ack, view, context[ACCESS])

    @app.options(TEMPLATE)
    def template_options(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
        ack(options=actions.template_options(context[ACCESS], str(payload.get("value") or "")))

    def opener(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        access = context[ACCESS]
        ack()
        action = (body.get("actions") or [{}])[0]
        value = decode_value(action.get("value")) if isinstance(action, dict) else {}
        template_id, name = _template_id(value.get("t")), value.get("n")
        template = (
            (template_id, name if isinstance(name, str) and name else template_id) if template_id else None
        )
        actions.later(
            "deploy-modal",
            lambda: actions.open(client, body, access, template),
            response_url=body.get("response_url"),
            user_id=access.user_id,
        )

    app.action(TEMPLATE_DEPLOY)(opener)
    app.action(HOME_DEPLOY)(opener)

    @app.action(DEPLOY_AUTHORISE)
    def authorise(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> None:
        access = context[ACCESS]
        ack()
        actions.later(
            "deploy-authorise",
            lambda: actions.authorise(body, action, access),
            response_url=body.get("response_url"),
            user_id=access.user_id,
        )

    @app.action(DEPLOY_CREDENTIALS)
    def credentials(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        access = context[ACCESS]
        ack()
        actions.later(
            "credentials-modal",
            lambda: actions.open_credentials(client, body, action, access),
            response_url=body.get("response_url"),
            user_id=access.user_id,
        )

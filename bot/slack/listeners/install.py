"""The install modal: opening it, serving its pickers, swapping fields, and the submission.

Every path opens or answers before any call to Cyclr: the catalogue is served from the
in-memory cache, and whatever needs Cyclr arrives later by ``views.update`` from a job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cyclr.errors import CyclrError
from bot.cyclr.models import Account, Connector
from bot.services.access import AccountGrant, Action
from bot.services.accounts import ACK_WAIT
from bot.services.catalogue import Catalogue
from bot.services.container import Services
from bot.services.installs import Credentials, InstallRequest, validate_install
from bot.slack import blocks
from bot.slack.forms import input_value, state_values
from bot.slack.ids import (
    ACCOUNT,
    API_KEY,
    CONNECTOR,
    DESCRIPTION,
    HOME_INSTALL,
    INSTALL_CALLBACK,
    NAME,
    NO_OPTION,
    PASSWORD,
    PROPERTY_PREFIX,
    SEARCH_INSTALL,
    SHORTCUT,
    USERNAME,
    decode_value,
)
from bot.slack.jobs import INSTALL, HeldInstalls
from bot.slack.listeners.background import Surface
from bot.slack.messenger import SlackMessenger, ViewChanged
from bot.slack.middleware import ACCESS, STALE_FORM, Access
from bot.slack.sealed import ModalMeta
from bot.store import InstallRecord

__all__ = ["InstallModal", "register"]

log = logging.getLogger(__name__)

#: Longest an options request or a submission waits for a catalogue that is still loading.
CATALOGUE_WAIT = 2.0
#: Longest a background job waits for the catalogue.
JOB_CATALOGUE_WAIT = 30.0


class InstallModal(Surface):
    """The install modal's behaviour, shared by the command, buttons, shortcut and App Home."""

    def __init__(self, services: Services, messenger: SlackMessenger, held: HeldInstalls) -> None:
        super().__init__(services, messenger)
        #: Runs the install jobs that carry credentials here, in the process that took them.
        self.held = held

    # -- opening -------------------------------------------------------------------------------

    def open(
        self,
        client: WebClient,
        access: Access,
        *,
        trigger_id: str,
        query: str | None = None,
        connector_id: str | int | None = None,
        response_url: str | None = None,
    ) -> None:
        """Open the modal just after the ack, in this process (the trigger lives 3 s).

        Slack gets its ack without waiting for ``views.open``; whatever needs Cyclr is filled
        in later by a job. A failure or a full lane reaches the user like a job's does. The
        request's access check runs first (the middleware left it for now); its refusal is
        the answer instead.
        """
        self.later(
            "modal-open",
            lambda: self._open_now(
                client,
                access,
                trigger_id=trigger_id,
                query=query,
                connector_id=connector_id,
                response_url=response_url,
            ),
            response_url=response_url,
            user_id=access.user_id,
            channel_id=access.channel_id,
        )

    def _open_now(
        self,
        client: WebClient,
        access: Access,
        *,
        trigger_id: str,
        query: str | None,
        connector_id: str | int | None,
        response_url: str | None,
    ) -> None:
        user_id, channel_id = access.user_id, access.channel_id
        refusal = access.refused(Action.INSTALL)
        if refusal is not None:
            self.messenger.respond(response_url, refusal, user_id=user_id, channel_id=channel_id)
            return
        account_id = access.account or access.channel_account  # a search result's, else the channel's
        grant = access.grant()
        catalogue = self.services.catalogue.peek(account_id)
        wanted = bool(query or connector_id)
        connector = self._pick(catalogue, query, connector_id) if catalogue else None
        notice = None
        if wanted and catalogue is None:
            notice = "Loading the connector catalogue…"
        elif query and connector is not None:
            notice = f"Best match for “{query}”: {connector.name}. Choose another below if it is not the one."
        elif wanted and connector is None:
            notice = f"Nothing in the catalogue matches “{query or connector_id}”. Search below."
        view = self._view(user_id, channel_id, account_id, grant, connector, notice=notice)
        try:
            response = client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            code = error.response.get("error")
            log.warning("views.open failed: %s", code)
            self.messenger.respond(
                response_url,
                blocks.notice_message(
                    "Slack did not let me open the install form in time"
                    f" ({code}). Please run the command again.",
                    sandbox=self.sandbox,
                ),
                user_id=user_id,
                channel_id=channel_id,
            )
            return
        opened = response.get("view") or {}
        self.services.catalogue.prime(account_id)
        if wanted and catalogue is None:
            self.later(
                "modal-preselect",
                lambda: self._preselect(
                    str(opened.get("id")),
                    str(opened.get("hash") or ""),
                    user_id,
                    channel_id,
                    account_id,
                    grant,
                    query,
                    connector_id,
                ),
                user_id=user_id,
                channel_id=channel_id,
                response_url=response_url,
            )

    def _preselect(
        self,
        view_id: str,
        view_hash: str,
        user_id: str,
        channel_id: str | None,
        account_id: str,
        grant: AccountGrant,
        query: str | None,
        connector_id: str | int | None,
    ) -> None:
        notice: str | None
        try:
            catalogue = self.services.catalogue.get(account_id, timeout=JOB_CATALOGUE_WAIT)
        except (CyclrError, TimeoutError) as error:
            notice = (
                f"Could not load the catalogue from Cyclr ({_plain_error(error)}). Search below to retry."
            )
            connector = None
        else:
            connector = self._pick(catalogue, query, connector_id)
            notice = (
                f"Best match for “{query}”: {connector.name}."
                if connector and query
                else None
                if connector
                else "Nothing matched; search below."
            )
        view = self._view(user_id, channel_id, account_id, grant, connector, notice=notice)
        try:
            self.messenger.update_view(view_id, view, view_hash=view_hash or None)
        except ViewChanged:
            log.info("the user changed the modal first; leaving their choice")

    @staticmethod
    def _pick(
        catalogue: Catalogue | None, query: str | None, connector_id: str | int | None
    ) -> Connector | None:
        if catalogue is None:
            return None
        if connector_id is not None:
            found = catalogue.get(connector_id)
            return found if found is not None and found.is_installable else None
        return catalogue.best_match(query) if query else None

    def _view(
        self,
        user_id: str,
        channel_id: str | None,
        account_id: str,
        grant: AccountGrant,
        connector: Connector | None,
        *,
        notice: str | None = None,
        previous_auto_name: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """The install form for ``user_id``; its account picker only when ``grant`` allows more
        than one account (and the partner has more than one)."""
        accounts = self.services.accounts.cached()
        meta = ModalMeta(
            channel_id,
            account_id,
            auto_name=connector.name if connector else None,
            previous_auto_name=previous_auto_name,
        )
        account = Account(account_id, self.services.accounts.name_of(account_id))
        return blocks.install_modal(
            metadata=meta.dumps(self.messenger.sealer, user_id),
            connector=connector,
            account=account,
            show_account=grant.single is None and (accounts is None or len(accounts) > 1),
            name=name,
            notice=notice,
            sandbox=self.sandbox,
        )

    # -- pickers ---------------------------------------------------------------------------------

    def connector_options(self, access: Access, query: str) -> list[dict[str, Any]]:
        """The catalogue of the modal's account (the middleware checked it) matching ``query``."""
        account_id = access.account
        if access.modal is None or account_id is None:
            return blocks.options_placeholder(STALE_FORM)
        try:
            catalogue = self.services.catalogue.get(account_id, timeout=CATALOGUE_WAIT)
        except TimeoutError:
            return blocks.options_placeholder("Still loading the catalogue… type again in a moment")
        except CyclrError as error:
            return blocks.options_placeholder(f"Cyclr is not answering ({_plain_error(error)})")
        matches = catalogue.search(query, limit=100)
        if not matches:
            return blocks.options_placeholder(f"No connector matches “{query[:40]}”")
        return blocks.connector_options(matches)

    def account_options(self, access: Access, query: str) -> list[dict[str, Any]]:
        """The accounts this user may pick here: every one matching ``query`` when the policy
        allows them all, else only those it grants."""
        grant = access.grant()
        directory = self.services.accounts
        if not grant.every:
            accounts = [Account(a, directory.name_of(a)) for a in sorted(grant.accounts)]
        else:
            try:
                if query.strip():
                    accounts = directory.find(query, wait=ACK_WAIT)
                else:
                    accounts = list(directory.listed(wait=ACK_WAIT))
            except TimeoutError:
                return blocks.options_placeholder("Still loading the Cyclr accounts… type again in a moment")
            except CyclrError as error:
                return blocks.options_placeholder(f"Cyclr is not answering ({_plain_error(error)})")
        if not accounts:
            return blocks.options_placeholder(f"No account matches “{query[:40]}”")
        return blocks.account_options(accounts[:100])

    # -- choosing a connector ------------------------------------------------------------------------

    def connector_chosen(self, view: Mapping[str, Any], access: Access) -> None:
        """Swap in the fields the chosen connector needs (called after the action was acked)."""
        meta, account_id = access.modal, access.account
        if meta is None or account_id is None:
            return
        chosen = input_value(state_values(view), CONNECTOR)
        catalogue = self.services.catalogue.peek(account_id)
        if catalogue is None:
            try:
                catalogue = self.services.catalogue.get(account_id, timeout=JOB_CATALOGUE_WAIT)
            except (CyclrError, TimeoutError):
                catalogue = None
        connector = catalogue.get(chosen) if catalogue and chosen and chosen != NO_OPTION else None
        previous = meta.auto_name if connector is not None and meta.auto_name != connector.name else None
        new_view = self._view(
            access.user_id,
            meta.channel_id,
            account_id,
            access.grant(),
            connector,
            previous_auto_name=previous or meta.previous_auto_name,
        )
        try:
            self.messenger.update_view(str(view.get("id")), new_view, view_hash=view.get("hash"))
        except ViewChanged:
            log.info("modal %s changed again before the fields were swapped", view.get("id"))

    # -- submission ------------------------------------------------------------------------------

    def submit(self, ack: Ack, view: Mapping[str, Any], access: Access) -> None:
        """Record the install and queue it, or answer in the modal what is wrong.

        The account (and that this user may use it here) was settled by the middleware; team
        and user come from the signed body, the channel from the sealed metadata.
        """
        meta, account_id, user_id = access.modal, access.account, access.user_id
        if meta is None or account_id is None:
            ack(response_action="errors", errors={CONNECTOR: STALE_FORM})
            return
        values = state_values(view)
        try:
            catalogue = self.services.catalogue.get(account_id, timeout=CATALOGUE_WAIT)
        except TimeoutError:
            ack(
                response_action="errors",
                errors={CONNECTOR: "The catalogue is still loading. Submit again in a moment."},
            )
            return
        except CyclrError as error:
            ack(
                response_action="errors",
                errors={CONNECTOR: f"Cyclr is not answering ({_plain_error(error)})."},
            )
            return
        chosen = input_value(values, CONNECTOR)
        connector = catalogue.get(chosen) if chosen and chosen != NO_OPTION else None
        name = (input_value(values, NAME) or "").strip()
        if connector is not None and (
            not name or (meta.previous_auto_name and name == meta.previous_auto_name)
        ):
            name = connector.name  # the name field kept the previous connector's default
        credentials = Credentials(
            api_key=input_value(values, API_KEY),
            username=input_value(values, USERNAME),
            password=input_value(values, PASSWORD),
        )
        properties = {
            block_id[len(PROPERTY_PREFIX) :]: value
            for block_id in values
            if block_id.startswith(PROPERTY_PREFIX) and (value := input_value(values, block_id))
        }
        description = input_value(values, DESCRIPTION)
        errors = validate_install(
            connector=connector,
            name=name,
            description=description,
            credentials=credentials,
            properties=properties,
        )
        if connector is None and chosen and chosen != NO_OPTION:
            errors[CONNECTOR] = "That connector is no longer in the catalogue. Choose it again."
        errors = {key: value for key, value in errors.items() if key in values or key == CONNECTOR}
        if errors or connector is None:
            ack(response_action="errors", errors=errors or {CONNECTOR: "Choose a connector."})
            return
        request = InstallRequest(
            submission_key=str(view.get("id")),
            team_id=access.team_id,
            user_id=user_id,
            channel_id=meta.channel_id,
            account_id=account_id,
            connector=connector,
            name=name,
            description=description,
            credentials=credentials,
            properties=properties,
        )
        view_id = str(view.get("id"))
        with self.services.store.transaction():  # the row and its jobs, or none of them
            record, created = self.services.installs.submit(request)
            call = self.services.installs.prepare(record, request) if created else None
            if call is not None and not call.secret:
                payload = {**call.to_payload(), "view": view_id}
                self.services.queue.enqueue(INSTALL, payload, key=f"{INSTALL}:{record.id}")
        account_name = self.services.accounts.name_of(account_id)
        if call is None:
            ack(response_action="update", view=self._outcome_or_progress(record, account_name))
            return
        # Credentials stay in this process: its own thread runs the job it holds in the queue.
        started = self.held.start(call, view_id=view_id) if call.secret else True
        if not started:
            outcome = self.services.installs.reject(
                record,
                "The bot is very busy right now, so nothing was installed. Please try again in a minute.",
            )
            ack(
                response_action="update",
                view=blocks.install_outcome_view(outcome, account_name=account_name, sandbox=self.sandbox),
            )
            return
        ack(
            response_action="update",
            view=blocks.install_progress_view(
                connector_name=connector.name, account_name=account_name, sandbox=self.sandbox
            ),
        )

    def _outcome_or_progress(self, record: InstallRecord, account_name: str) -> dict[str, Any]:
        if record.state.is_final:
            return blocks.install_outcome_view(
                record,
                account_name=account_name,
                sandbox=self.sandbox,
                detail="This form was already submitted.",
            )
        return blocks.install_progress_view(
            connector_name=record.connector_name, account_name=account_name, sandbox=self.sandbox
        )


def _plain_error(error: Exception) -> str:
    if isinstance(error, CyclrError):
        return error.user_message
    if isinstance(error, TimeoutError):
        return "it took too long"
    return type(error).__name__


def register(app: App, modal: InstallModal) -> None:
    """Bind the modal's actions, options, submission, shortcut and install buttons.

    Each listener takes the request's :class:`~bot.slack.middleware.Access` from the context
    (the middleware puts one there for every request).
    """

    # Bolt tries each listener's matcher in the order they were added, about 0.02 ms each:
    # the submission, whose ack is the slowest (it records the install), is tried first.
    @app.view(INSTALL_CALLBACK)
    def install_submitted(ack: Ack, view: dict[str, Any], context: BoltContext) -> None:
        modal.submit(ack, view, context[ACCESS])

    @app.options(CONNECTOR)
    def connector_options(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
        ack(options=modal.connector_options(context[ACCESS], str(payload.get("value") or "")))

    @app.options(ACCOUNT)
    def account_options(ack: Ack, payload: dict[str, Any], context: BoltContext) -> None:
        ack(options=modal.account_options(context[ACCESS], str(payload.get("value") or "")))

    @app.block_action(CONNECTOR)
    def connector_chosen(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        view, access = body.get("view") or {}, context[ACCESS]
        modal.later("modal-fields", lambda: modal.connector_chosen(view, access), user_id=access.user_id)
        ack()

    @app.block_action(ACCOUNT)
    def account_chosen(ack: Ack) -> None:
        ack()

    def open_for_user(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """The global shortcut and App Home's button: a blank modal on the default account."""
        ack()
        modal.open(
            client,
            context[ACCESS],
            trigger_id=str(body.get("trigger_id") or ""),
            response_url=body.get("response_url"),
        )

    app.shortcut(SHORTCUT)(open_for_user)
    app.action(HOME_INSTALL)(open_for_user)

    @app.action(SEARCH_INSTALL)
    def search_install(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        """A search result's Install: the modal on the result's account (the access check,
        run as the modal opens, settles whether this user may use it here)."""
        ack()
        value = decode_value(action.get("value"))
        connector = value.get("c") if isinstance(value.get("c"), int | str) else None
        modal.open(
            client,
            context[ACCESS],
            trigger_id=str(body.get("trigger_id") or ""),
            connector_id=connector,
            response_url=body.get("response_url"),
        )

"""The install modal: opening it, serving its pickers, swapping fields, and the submission.

Every path opens or answers before any call to Cyclr: the catalogue is served from the
in-memory cache, and whatever needs Cyclr arrives later by ``views.update`` from a job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cyclr.errors import CyclrError
from bot.cyclr.models import Account, Connector
from bot.jobs import JobRejected
from bot.services.catalogue import Catalogue
from bot.services.installs import Credentials, InstallRequest, validate_install
from bot.slack import blocks
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
    slack_id,
)
from bot.slack.listeners.background import Surface
from bot.slack.listeners.errors import user_job
from bot.slack.messenger import ViewChanged
from bot.slack.middleware import DEFERRED_CHECK
from bot.store import InstallRecord

__all__ = ["InstallModal", "register"]

log = logging.getLogger(__name__)

#: Longest an options request or a submission waits for a catalogue that is still loading.
CATALOGUE_WAIT = 2.0
#: Longest a background job waits for the catalogue.
JOB_CATALOGUE_WAIT = 30.0
MAX_METADATA = 3000


@dataclass(frozen=True, slots=True)
class ModalMeta:
    """What the modal carries in ``private_metadata``: where it was opened, and for whom."""

    team_id: str
    channel_id: str | None
    account_id: str
    auto_name: str | None = None  #: the name the bot last filled in
    previous_auto_name: str | None = None

    def dumps(self) -> str:
        data = {
            "t": self.team_id,
            "c": self.channel_id,
            "a": self.account_id,
            "n": self.auto_name,
            "o": self.previous_auto_name,
        }
        text = json.dumps({k: v for k, v in data.items() if v is not None}, separators=(",", ":"))
        return text if len(text) <= MAX_METADATA else json.dumps({"t": self.team_id, "a": self.account_id})

    @classmethod
    def loads(cls, text: str | None) -> ModalMeta | None:
        """None for anything that is not metadata this bot wrote."""
        try:
            data = json.loads(text or "")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        team, account = data.get("t"), data.get("a")
        if not isinstance(team, str) or not isinstance(account, str) or not team or not account:
            return None

        def text_or_none(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) and value else None

        return cls(team, text_or_none("c"), account, text_or_none("n"), text_or_none("o"))


def _state_values(view: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    state = view.get("state") or {}
    values = state.get("values") if isinstance(state, Mapping) else None
    return values if isinstance(values, Mapping) else {}


def _input(values: Mapping[str, Mapping[str, Any]], block_id: str) -> str | None:
    """The text typed or the option chosen in ``block_id`` (action id is the same word)."""
    block = values.get(block_id)
    if not isinstance(block, Mapping):
        return None
    element = block.get(block_id)
    if not isinstance(element, Mapping):
        element = next((e for e in block.values() if isinstance(e, Mapping)), None)
        if element is None:
            return None
    option = element.get("selected_option")
    if isinstance(option, Mapping):
        value = option.get("value")
        return str(value) if value is not None else None
    value = element.get("value")
    return str(value) if isinstance(value, str | int) else None


class InstallModal(Surface):
    """The install modal's behaviour, shared by the command, buttons, shortcut and App Home."""

    # -- opening -------------------------------------------------------------------------------

    def open(
        self,
        client: WebClient,
        *,
        trigger_id: str,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        query: str | None = None,
        connector_id: str | int | None = None,
        account_id: str | None = None,
        response_url: str | None = None,
        access_check: Callable[[], blocks.Message | None] | None = None,
    ) -> None:
        """Open the modal just after the ack, on the urgent lane (the trigger lives 3 s).

        Slack gets its ack without waiting for ``views.open``; whatever needs Cyclr is filled
        in later by a job. A failure or a full lane reaches the user like a job's does. An
        ``access_check`` left by the middleware runs first; its refusal is the answer instead.
        """
        self.later(
            "modal-open",
            lambda: self._open_now(
                client,
                trigger_id=trigger_id,
                team_id=team_id,
                user_id=user_id,
                channel_id=channel_id,
                query=query,
                connector_id=connector_id,
                account_id=account_id,
                response_url=response_url,
                access_check=access_check,
            ),
            response_url=response_url,
            user_id=user_id,
            channel_id=channel_id,
            urgent=True,
        )

    def _open_now(
        self,
        client: WebClient,
        *,
        trigger_id: str,
        team_id: str,
        user_id: str,
        channel_id: str | None,
        query: str | None,
        connector_id: str | int | None,
        account_id: str | None,
        response_url: str | None,
        access_check: Callable[[], blocks.Message | None] | None,
    ) -> None:
        refusal = access_check() if access_check is not None else None
        if refusal is not None:
            self.messenger.respond(response_url, refusal, user_id=user_id, channel_id=channel_id)
            return
        account_id = (
            account_id or self.services.accounts.for_channel(team_id=team_id, channel_id=channel_id)[0]
        )
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
        view = self._view(team_id, channel_id, account_id, connector, notice=notice)
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
                    team_id,
                    channel_id,
                    account_id,
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
        team_id: str,
        channel_id: str | None,
        account_id: str,
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
        view = self._view(team_id, channel_id, account_id, connector, notice=notice)
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
        team_id: str,
        channel_id: str | None,
        account_id: str,
        connector: Connector | None,
        *,
        notice: str | None = None,
        previous_auto_name: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        accounts = self.services.accounts.cached()
        meta = ModalMeta(
            team_id,
            channel_id,
            account_id,
            auto_name=connector.name if connector else None,
            previous_auto_name=previous_auto_name,
        )
        account = Account(account_id, self.services.accounts.name_of(account_id))
        return blocks.install_modal(
            metadata=meta.dumps(),
            connector=connector,
            account=account,
            show_account=accounts is None or len(accounts) > 1,
            name=name,
            notice=notice,
            sandbox=self.sandbox,
        )

    # -- pickers ---------------------------------------------------------------------------------

    def account_of(self, view: Mapping[str, Any]) -> tuple[ModalMeta | None, str]:
        """The modal's metadata and chosen account; metadata None when either is not valid."""
        meta = ModalMeta.loads(view.get("private_metadata"))
        chosen = _input(_state_values(view), ACCOUNT)
        default = meta.account_id if meta else self.services.accounts.default_account_id
        account_id = chosen if chosen and chosen != NO_OPTION else default
        if not self.services.accounts.is_known(account_id, fetch=False):
            return None, self.services.accounts.default_account_id
        return meta, account_id

    def connector_options(self, view: Mapping[str, Any], query: str) -> list[dict[str, Any]]:
        meta, account_id = self.account_of(view)
        if meta is None:
            return blocks.options_placeholder("This form is out of date; close it and run /cyclr install")
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

    def account_options(self, query: str) -> list[dict[str, Any]]:
        try:
            accounts = (
                self.services.accounts.find(query) if query.strip() else list(self.services.accounts.all())
            )
        except CyclrError as error:
            return blocks.options_placeholder(f"Cyclr is not answering ({_plain_error(error)})")
        if not accounts:
            return blocks.options_placeholder(f"No account matches “{query[:40]}”")
        return blocks.account_options(accounts[:100])

    # -- choosing a connector ------------------------------------------------------------------------

    def connector_chosen(self, view: Mapping[str, Any]) -> None:
        """Swap in the fields the chosen connector needs (called after the action was acked)."""
        meta, account_id = self.account_of(view)
        if meta is None:
            return
        chosen = _input(_state_values(view), CONNECTOR)
        catalogue = self.services.catalogue.peek(account_id)
        if catalogue is None:
            try:
                catalogue = self.services.catalogue.get(account_id, timeout=JOB_CATALOGUE_WAIT)
            except (CyclrError, TimeoutError):
                catalogue = None
        connector = catalogue.get(chosen) if catalogue and chosen and chosen != NO_OPTION else None
        previous = meta.auto_name if connector is not None and meta.auto_name != connector.name else None
        new_view = self._view(
            meta.team_id,
            meta.channel_id,
            account_id,
            connector,
            previous_auto_name=previous or meta.previous_auto_name,
        )
        try:
            self.messenger.update_view(str(view.get("id")), new_view, view_hash=view.get("hash"))
        except ViewChanged:
            log.info("modal %s changed again before the fields were swapped", view.get("id"))

    # -- submission ------------------------------------------------------------------------------

    def submit(self, ack: Ack, body: Mapping[str, Any], view: Mapping[str, Any]) -> None:
        meta, account_id = self.account_of(view)
        user_id = str((body.get("user") or {}).get("id") or "")
        if meta is None or not user_id:
            ack(
                response_action="errors",
                errors={CONNECTOR: "This form is out of date. Close it and run /cyclr install again."},
            )
            return
        values = _state_values(view)
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
        chosen = _input(values, CONNECTOR)
        connector = catalogue.get(chosen) if chosen and chosen != NO_OPTION else None
        name = (_input(values, NAME) or "").strip()
        if connector is not None and (
            not name or (meta.previous_auto_name and name == meta.previous_auto_name)
        ):
            name = connector.name  # the name field kept the previous connector's default
        credentials = Credentials(
            api_key=_input(values, API_KEY),
            username=_input(values, USERNAME),
            password=_input(values, PASSWORD),
        )
        properties = {
            block_id[len(PROPERTY_PREFIX) :]: value
            for block_id in values
            if block_id.startswith(PROPERTY_PREFIX) and (value := _input(values, block_id))
        }
        description = _input(values, DESCRIPTION)
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
            team_id=meta.team_id,
            user_id=user_id,
            channel_id=meta.channel_id,
            account_id=account_id,
            connector=connector,
            name=name,
            description=description,
            credentials=credentials,
            properties=properties,
        )
        record, created = self.services.installs.submit(request)
        account_name = self.services.accounts.name_of(account_id)
        if not created:
            ack(response_action="update", view=self._outcome_or_progress(record, account_name))
            return
        try:
            self.services.jobs.submit(
                "install",
                user_job(
                    self.messenger,
                    lambda: self._install(str(view.get("id")), record, request),
                    user_id=user_id,
                    channel_id=meta.channel_id,
                ),
            )
        except JobRejected:
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

    def _install(self, view_id: str, record: InstallRecord, request: InstallRequest) -> None:
        """The install job: show progress, call Cyclr once, show the outcome."""
        account_name = self.services.accounts.name_of(request.account_id)
        progress = blocks.install_progress_view(
            connector_name=record.connector_name, account_name=account_name, sandbox=self.sandbox
        )
        # Our own progress update gives a hash; if Slack applies the submission's ack after
        # it, the hash no longer matches and the outcome is re-sent without it (see below).
        view_hash = self.messenger.update_view(view_id, progress)
        outcome = self.services.installs.perform(record, request)
        if view_hash is None:
            return  # the user closed the modal; the DM tells them the outcome
        view = blocks.install_outcome_view(
            outcome.record,
            account_name=account_name,
            sandbox=self.sandbox,
            duplicate_name=outcome.duplicate_name,
        )
        try:
            self.messenger.update_view(view_id, view, view_hash=view_hash or None)
        except ViewChanged:
            time.sleep(0.3)
            self.messenger.update_view(view_id, view)


def _plain_error(error: Exception) -> str:
    if isinstance(error, CyclrError):
        return error.user_message
    if isinstance(error, TimeoutError):
        return "it took too long"
    return type(error).__name__


def register(app: App, modal: InstallModal) -> None:
    """Bind the modal's actions, options, submission, shortcut and install buttons."""

    # Bolt tries each listener's matcher in the order they were added, about 0.02 ms each:
    # the submission, whose ack is the slowest (it records the install), is tried first.
    @app.view(INSTALL_CALLBACK)
    def install_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        modal.submit(ack, body, view)

    @app.options(CONNECTOR)
    def connector_options(ack: Ack, body: dict[str, Any], payload: dict[str, Any]) -> None:
        ack(options=modal.connector_options(body.get("view") or {}, str(payload.get("value") or "")))

    @app.options(ACCOUNT)
    def account_options(ack: Ack, payload: dict[str, Any]) -> None:
        ack(options=modal.account_options(str(payload.get("value") or "")))

    @app.block_action(CONNECTOR)
    def connector_chosen(ack: Ack, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        modal.later("modal-fields", lambda: modal.connector_chosen(view), user_id=_user(body) or None)
        ack()

    @app.block_action(ACCOUNT)
    def account_chosen(ack: Ack) -> None:
        ack()

    def open_for_user(ack: Ack, body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        """The global shortcut and App Home's button: a blank modal on the default account."""
        ack()
        modal.open(
            client,
            trigger_id=str(body.get("trigger_id") or ""),
            team_id=_team(body),
            user_id=_user(body),
            channel_id=None,
            access_check=context.get(DEFERRED_CHECK),
        )

    app.shortcut(SHORTCUT)(open_for_user)
    app.action(HOME_INSTALL)(open_for_user)

    @app.action(SEARCH_INSTALL)
    def search_install(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        ack()
        value = decode_value(action.get("value"))
        account = value.get("a") if modal.services.accounts.is_known(value.get("a"), fetch=False) else None
        connector = value.get("c") if isinstance(value.get("c"), int | str) else None
        modal.open(
            client,
            trigger_id=str(body.get("trigger_id") or ""),
            team_id=_team(body),
            user_id=_user(body),
            channel_id=slack_id((body.get("channel") or {}).get("id")) or None,
            connector_id=connector,
            account_id=account,
            response_url=body.get("response_url"),
            access_check=context.get(DEFERRED_CHECK),
        )


def _user(body: Mapping[str, Any]) -> str:
    user = body.get("user")
    return slack_id(user.get("id")) if isinstance(user, Mapping) else ""


def _team(body: Mapping[str, Any]) -> str:
    team, user = body.get("team"), body.get("user")
    if isinstance(team, Mapping) and slack_id(team.get("id")):
        return slack_id(team.get("id"))
    if isinstance(user, Mapping) and slack_id(user.get("team_id")):
        return slack_id(user.get("team_id"))
    return slack_id(body.get("team_id"))

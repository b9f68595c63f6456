"""Pure builders of every Block Kit payload the bot sends: plain dicts, no network.

Messages come back as :class:`Message` (fallback ``text`` + ``blocks``); views as dicts.
Everything built with ``sandbox=True`` carries the sandbox banner.
"""

from __future__ import annotations

from bot.slack.blocks.accounts import accounts_message, channel_account_message
from bot.slack.blocks.activity import (
    MAX_CYCLE_HISTORY,
    history_message,
    install_line,
    state_label,
    team_notification,
)
from bot.slack.blocks.auth import (
    authorise_link_message,
    authorise_page_link_message,
    authorised_message,
    install_dm,
    link_expired_message,
)
from bot.slack.blocks.common import SANDBOX_NOTE, Message, clip, clip_mrkdwn, escape, escape_clip, slack_date
from bot.slack.blocks.cycles import (
    activate_modal,
    cycle_event_line,
    cycle_event_notification,
    cycles_list,
)
from bot.slack.blocks.deploy import (
    credentials_modal,
    deploy_checklist,
    deploy_modal,
    deploy_notification,
    deploy_outcome_view,
    deploy_progress_view,
    template_option,
    templates_list,
)
from bot.slack.blocks.health import health_message, login_lost_dm, login_lost_line
from bot.slack.blocks.help import (
    HelpEntry,
    error_message,
    help_card,
    help_entries,
    notice_message,
)
from bot.slack.blocks.home import app_home, app_home_help
from bot.slack.blocks.installed import installed_list, uninstall_confirm_message
from bot.slack.blocks.modal import install_modal, install_outcome_view, install_progress_view
from bot.slack.blocks.options import (
    account_option,
    account_options,
    connector_option,
    connector_options,
    options_placeholder,
)
from bot.slack.blocks.search import search_results

__all__ = [
    "MAX_CYCLE_HISTORY",
    "SANDBOX_NOTE",
    "HelpEntry",
    "Message",
    "account_option",
    "account_options",
    "activate_modal",
    "accounts_message",
    "app_home",
    "credentials_modal",
    "deploy_checklist",
    "deploy_modal",
    "deploy_notification",
    "deploy_outcome_view",
    "deploy_progress_view",
    "template_option",
    "templates_list",
    "app_home_help",
    "authorise_link_message",
    "authorise_page_link_message",
    "authorised_message",
    "channel_account_message",
    "clip",
    "clip_mrkdwn",
    "connector_option",
    "connector_options",
    "cycle_event_line",
    "cycle_event_notification",
    "cycles_list",
    "error_message",
    "escape",
    "escape_clip",
    "help_card",
    "health_message",
    "help_entries",
    "history_message",
    "install_dm",
    "install_line",
    "install_modal",
    "install_outcome_view",
    "install_progress_view",
    "installed_list",
    "link_expired_message",
    "login_lost_dm",
    "login_lost_line",
    "notice_message",
    "options_placeholder",
    "search_results",
    "slack_date",
    "state_label",
    "team_notification",
    "uninstall_confirm_message",
]

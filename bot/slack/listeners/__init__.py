"""Bolt listeners, one module per surface; :func:`register_listeners` binds them all."""

from __future__ import annotations

from slack_bolt import App

from bot.services.container import Services
from bot.slack import alerts
from bot.slack.jobs import HeldInstalls
from bot.slack.listeners import commands, connectors, cycles, deploy, errors, home, install
from bot.slack.messenger import SlackMessenger

__all__ = ["register_listeners"]


def register_listeners(app: App, services: Services, messenger: SlackMessenger) -> None:
    modal = install.InstallModal(services, messenger, HeldInstalls(services, messenger))
    actions = connectors.ConnectorActions(services, messenger)
    commands.register(app, commands.CyclrCommand(services, messenger, modal, actions))
    install.register(app, modal)
    connectors.register(app, actions)
    cycles.register(app, cycles.CycleActions(services, messenger))
    deploy.register(app, deploy.DeployActions(services, messenger))
    home.register(app, services)
    alerts.register(app, alerts.AlertActions(services, messenger))
    errors.register(app, messenger)

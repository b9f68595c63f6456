"""The bot's state: install audit log, channel bindings and authorisation link refs.

SQLAlchemy Core over SQLite (the default file) or PostgreSQL (several replicas share it).
Nothing secret is ever stored: no API key, password, access or sign-in token.
"""

from bot.store.records import (
    Binding,
    CycleAction,
    CycleEvent,
    CycleEventState,
    Deploy,
    DeployState,
    InstallRecord,
    InstallState,
    LinkRef,
)
from bot.store.store import Store, StoreUnavailable, unavailable

__all__ = [
    "Binding",
    "CycleAction",
    "CycleEvent",
    "CycleEventState",
    "Deploy",
    "DeployState",
    "InstallRecord",
    "InstallState",
    "LinkRef",
    "Store",
    "StoreUnavailable",
    "unavailable",
]

"""Records of the sandbox's cycles and incidents, and the rules that need no other state.

A cycle is a template installed into an account (cyclr-api.md §9): its steps call account
connectors, it starts ``Paused``, and it may be activated once nothing blocks it. An
incident is an error or warning raised on one of its steps. :class:`~.state.SandboxState`
keeps these records under its lock and serialises them through the functions here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .apierror import ApiError
from .templates import ConsolePrerequisite

__all__ = [
    "NEVER",
    "VALID_INTERVALS",
    "CycleRecord",
    "CycleStepRecord",
    "IncidentRecord",
    "RaisedIncident",
    "parse_interval",
    "parse_ticks",
    "ticks_text",
]

#: .NET's ``DateTime.MinValue``: what Cyclr writes for a date that has not happened.
NEVER = "0001-01-01T00:00:00"
VALID_INTERVALS = (1, 5, 15, 30, 60, 120, 180, 240, 360, 480, 720, 1440, 10080)
_TICKS = 10_000_000  # .NET ticks (100 ns) per second
_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7})\d*)?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?"
)


def ticks_text(ticks: int) -> str:
    """A time in 100 ns ticks since the epoch, written as Cyclr writes UTC (seven digits, ``Z``)."""
    seconds, fraction = divmod(ticks, _TICKS)
    return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%dT%H:%M:%S}.{fraction:07d}Z"


def parse_ticks(text: str) -> int:
    """A date parameter (``2020-01-01``, ``2024-05-01T09:30:00.1234567Z``, an offset) in ticks; 400 if not."""
    found = _DATE.fullmatch(text.strip())
    if found is None:
        raise ApiError(400, "The request is invalid.")
    year, month, day, hour, minute, second, fraction, zone = found.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError as exc:
        raise ApiError(400, "The request is invalid.") from exc
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = (int(digits[:2]) * 3600 + int(digits[2:]) * 60) * (1 if zone[0] == "+" else -1)
    seconds = int(moment.replace(tzinfo=UTC).timestamp()) - offset
    return seconds * _TICKS + int((fraction or "0").ljust(7, "0"))


def parse_interval(value: Any) -> int:
    """An activation ``Interval`` (minutes, a number or numeric string); 400 unless Cyclr accepts it."""
    minutes: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    elif isinstance(value, str) and value.strip().isdigit():
        minutes = int(value.strip())
    if minutes not in VALID_INTERVALS:
        allowed = ", ".join(str(i) for i in VALID_INTERVALS)
        raise ApiError(400, f"Interval must be one of the following values: {allowed}.")
    return minutes


@dataclass(slots=True)
class CycleStepRecord:
    id: str
    name: str
    account_connector_id: int


@dataclass(slots=True)
class CycleRecord:
    id: str
    account_id: str
    template_id: str
    name: str
    description: str | None
    created_ticks: int
    steps: list[CycleStepRecord]
    #: (catalogue entry, account connector id, step count), in order of first use
    connectors: list[tuple[Mapping[str, Any], int, int]]
    console: list[tuple[ConsolePrerequisite, str]]  #: (prerequisite, step id)
    status: str = "Paused"
    interval: int | None = None
    run_once: bool = False
    start_ticks: int | None = None
    finish_queued: bool | None = None
    error_count: int = 0
    warning_count: int = 0
    last_success_ticks: int | None = None
    tags: list[str] = field(default_factory=list)

    def to_api(self, authenticated: Callable[[int], bool]) -> dict[str, Any]:
        """Cyclr's cycle object; ``authenticated(account_connector_id)`` reads the live state."""
        return {
            "Id": self.id,
            "CreatedOnUtc": ticks_text(self.created_ticks),
            "TasksUsed": 0,
            "ErrorCount": self.error_count,
            "WarningCount": self.warning_count,
            "Connectors": [
                {
                    "Id": int(connector["Id"]),
                    "AccountConnectorId": account_connector_id,
                    "Name": connector.get("Name"),
                    "Version": connector.get("Version"),
                    "Authenticated": authenticated(account_connector_id),
                    "StepCount": count,
                    "Icon": None,
                }
                for connector, account_connector_id, count in self.connectors
            ],
            "Status": self.status,
            "LastSuccessfulRunDate": NEVER
            if self.last_success_ticks is None
            else ticks_text(self.last_success_ticks),
            "InProgressTransactionCount": 0,
            "Name": self.name,
            "Description": self.description,
            "Shareable": False,
            "ContinueOnStepError": True,
            "LogStepDataRequests": True,
            "TemplateId": self.template_id,
            "Tags": list(self.tags),
        }

    def steps_to_api(self, names: Mapping[int, str]) -> list[dict[str, Any]]:
        """``GET /cycles/{id}/steps``: each step with the account connector it calls."""
        return [
            {
                "Id": step.id,
                "Name": step.name,
                "ActionType": "Action",
                "AccountConnector": {
                    "Id": step.account_connector_id,
                    "Name": names.get(step.account_connector_id),
                },
            }
            for step in self.steps
        ]


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """One error or warning; ``secrets`` (planted in ``full_message``) never go out through the API."""

    id: str
    cycle_id: str
    cycle_name: str
    level: str
    short_message: str
    full_message: str
    step_id: str
    step_name: str
    transaction_id: str
    ticks: int
    secrets: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "CycleId": self.cycle_id,
            "CycleName": self.cycle_name,
            "IncidentLevel": self.level,
            "ShortMessage": self.short_message,
            "FullMessage": self.full_message,
            "StepId": self.step_id,
            "StepName": self.step_name,
            "TransactionId": self.transaction_id,
            "CreatedOnUtc": ticks_text(self.ticks),
        }


@dataclass(frozen=True, slots=True)
class RaisedIncident:
    """An incident just raised, and the webhook call it calls for: ``(url, payload)`` or ``None``."""

    incident: IncidentRecord
    webhook: tuple[str, dict[str, Any]] | None = None

"""The Cyclr sandbox: an in-process stand-in for Cyclr's REST API over real loopback HTTP.

Used by the test suite, the benchmarks and ``cyclr-bot run --sandbox``::

    with CyclrSandbox() as sb:
        client = CyclrClient(api_url=sb.api_url, client_id=sb.client_id, client_secret=sb.client_secret)
        sb.faults.add(Fault("drop_after", path_prefix="/v1.0/connectors/"))
        assert sb.count("POST", path_prefix="/v1.0/connectors/") == 1

It ships a sample catalogue of over a thousand connectors (``data/catalogue.json``), a
library of integration templates over them, three accounts, the OAuth sign-in link pages,
cycles with prerequisites, activation and incidents, the transaction error webhook,
request recording, fault injection, and a control API for trials (``/_sandbox``, see
:mod:`.control`).
"""

from .apierror import ApiError
from .authvalue import AuthReceived
from .browser import LinkOutcome, click_through
from .catalogue import load_catalogue
from .clock import Clock, ManualClock
from .control import CONTROL_PREFIX, SandboxControls
from .cycles import IncidentRecord, RaisedIncident
from .details import ErrorDetail, make_detail
from .faults import FAULT_KINDS, Fault, FaultHit, FaultKind, FaultPlan
from .recording import RecordedRequest
from .server import CyclrSandbox
from .state import DEFAULT_ACCOUNTS, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxState
from .templates import TEMPLATE_LIBRARY
from .webhooks import WebhookDelivery

__all__ = [
    "CONTROL_PREFIX",
    "DEFAULT_ACCOUNTS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "FAULT_KINDS",
    "TEMPLATE_LIBRARY",
    "ApiError",
    "AuthReceived",
    "Clock",
    "CyclrSandbox",
    "ErrorDetail",
    "Fault",
    "FaultHit",
    "FaultKind",
    "FaultPlan",
    "IncidentRecord",
    "LinkOutcome",
    "ManualClock",
    "RaisedIncident",
    "RecordedRequest",
    "SandboxControls",
    "SandboxState",
    "WebhookDelivery",
    "click_through",
    "load_catalogue",
    "make_detail",
]

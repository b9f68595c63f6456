"""The Cyclr side of the bot: API client, token, errors, models and link builder.

Nothing here imports Slack or Flask. The sandbox (a local Cyclr stand-in) lives in
:mod:`bot.cyclr.sandbox` and is not imported by this package.
"""

from bot.cyclr.auth import AccessToken, TokenManager
from bot.cyclr.client import DEFAULT_PAGE_SIZE, DEFAULT_TIMEOUT, MAX_PAGES, CyclrClient
from bot.cyclr.errors import (
    CyclrAPIError,
    CyclrAuthError,
    CyclrBadRequest,
    CyclrConnectError,
    CyclrError,
    CyclrNotFound,
    CyclrRateLimited,
    CyclrServerError,
    CyclrTimeout,
    CyclrTransportError,
    error_from_response,
    parse_retry_after,
)
from bot.cyclr.links import build_oauth_url, normalize_base_url
from bot.cyclr.models import (
    Account,
    AccountConnector,
    AuthKind,
    AuthMethod,
    Connector,
    ConnectorProperty,
    SignInToken,
    auth_kind_of,
)

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_TIMEOUT",
    "MAX_PAGES",
    "AccessToken",
    "Account",
    "AccountConnector",
    "AuthKind",
    "AuthMethod",
    "Connector",
    "ConnectorProperty",
    "CyclrAPIError",
    "CyclrAuthError",
    "CyclrBadRequest",
    "CyclrClient",
    "CyclrConnectError",
    "CyclrError",
    "CyclrNotFound",
    "CyclrRateLimited",
    "CyclrServerError",
    "CyclrTimeout",
    "CyclrTransportError",
    "SignInToken",
    "TokenManager",
    "auth_kind_of",
    "build_oauth_url",
    "error_from_response",
    "normalize_base_url",
    "parse_retry_after",
]

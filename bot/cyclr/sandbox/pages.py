"""The browser side of Cyclr's OAuth link, on the partner service domain.

``GET /connectorauth/updateaccountconnectoroauth?id=&token=&targetOrigin=[&callbackMessage=]``
uses up the sign-in token and shows a page standing in for the third party's consent
screen. Its *Allow* button POSTs a one-time consent id (never the token) back to the same
path, which authenticates the account connector and redirects (302) to ``targetOrigin``,
or, with ``callbackMessage``, serves a page that ``postMessage``\\ s it to the opener.
*Deny* redirects the same way without authenticating: as with Cyclr, the caller must poll
``Authenticated`` rather than trust the redirect. ``&autoApprove=1`` on the GET skips the
page, so plain HTTP clients can finish the flow in one request.
"""

from __future__ import annotations

import html
import json
from urllib.parse import parse_qsl, urlsplit

from .apierror import ApiError
from .state import ConsentResult, SandboxState
from .wire import Request, Response

__all__ = ["CONNECTORAUTH_PATH", "FORBIDDEN_TITLE", "authorise_get", "authorise_post"]

CONNECTORAUTH_PATH = "/connectorauth/updateaccountconnectoroauth"
FORBIDDEN_TITLE = "403 \u2013 Forbidden: Access is denied."

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_TRUE = frozenset({"1", "true", "yes", "allow"})


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def _error(status: int, message: str) -> Response:
    if status == 403:
        text = _page(
            FORBIDDEN_TITLE,
            f"<h1>{html.escape(FORBIDDEN_TITLE)}</h1>\n"
            "<p>You do not have permission to view this page using the credentials that you supplied.</p>",
        )
    else:
        text = _page(f"{status} \u2013 {message}", f"<h1>{status}</h1>\n<p>{html.escape(message)}</p>")
    return Response.html(status, text, _NO_STORE)


def _valid_target(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def authorise_get(state: SandboxState, request: Request) -> Response:
    """Use the sign-in token and show the consent page (or finish at once with ``autoApprove``)."""
    account_connector_id = request.param("id")
    token = request.param("token")
    target = request.param("targetOrigin")
    if not account_connector_id or not token or not target:
        return _error(400, "The link is incomplete: id, token and targetOrigin are required.")
    if not _valid_target(target):
        return _error(400, f"{target} is not a valid URL")
    try:
        start = state.begin_consent(token, account_connector_id, target, request.param("callbackMessage"))
        if (request.param("autoApprove") or "").strip().lower() in _TRUE:
            return _finish(state.finish_consent(start.consent_id, allow=True))
    except ApiError as exc:
        return _error(exc.status, exc.message)
    connector = html.escape(start.connector_name)
    body = (
        f"<h1>Sandbox sign-in: {connector}</h1>\n"
        f"<p>Allow Cyclr to access your {connector} account for "
        f"<strong>{html.escape(start.account_connector_name)}</strong> "
        f"(account {html.escape(start.account_name)})?</p>\n"
        f'<form method="post" action="{CONNECTORAUTH_PATH}">\n'
        f'<input type="hidden" name="consent" value="{html.escape(start.consent_id)}">\n'
        '<button type="submit" id="allow" name="decision" value="allow">Allow</button>\n'
        '<button type="submit" id="deny" name="decision" value="deny">Deny</button>\n'
        "</form>"
    )
    return Response.html(200, _page(f"Sign in to {start.connector_name}", body), _NO_STORE)


def authorise_post(state: SandboxState, request: Request) -> Response:
    """The consent form's answer: authenticate (or not), then send the browser back."""
    form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    consent_id = form.get("consent", "")
    decision = form.get("decision", "").strip().lower()
    if not consent_id or decision not in ("allow", "deny"):
        return _error(400, "The consent form must carry a consent id and decision=allow or deny.")
    try:
        return _finish(state.finish_consent(consent_id, allow=decision == "allow"))
    except ApiError as exc:
        return _error(exc.status, exc.message)


def _finish(result: ConsentResult) -> Response:
    if result.callback_message is None:
        return Response(302, b"", None, {"Location": result.target_origin, **_NO_STORE})
    # json.dumps gives JS string literals; escaping "<" keeps "</script>" out of the script.
    message = json.dumps(result.callback_message).replace("<", "\\u003c")
    origin = json.dumps(result.target_origin).replace("<", "\\u003c")
    script = (
        "<script>(function(){var t=window.opener||window.parent;"
        f"if(t&&t!==window){{t.postMessage({message},{origin});}}}})();</script>"
    )
    body = f"<h1>Authentication complete</h1>\n<p>You can close this window.</p>\n{script}"
    return Response.html(200, _page("Authentication complete", body), _NO_STORE)

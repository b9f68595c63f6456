"""The authorisation link pages: ``/authorise/<ref>`` and ``/authorised/<return id>``.

``GET /authorise/<ref>`` only shows a page (Slack and mail scanners fetch links, so a GET
must never spend anything); its *Continue* button POSTs, and only the POST mints a Cyclr
sign-in token and answers 303 to Cyclr's authorisation page, and only when the ref's owner
has just pressed the link's button in Slack (:meth:`LinkService.mint_for_ref`). A POST from
another site is refused. Cyclr sends the browser back to ``/authorised/<return id>``, which
checks the connector at once and says nothing about an id that is unknown or no longer
valid. Pages carry no external assets and strict security headers, HSTS included when the
bot is served over HTTPS.
"""

from __future__ import annotations

import html
import logging
import re
from typing import TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from bot.cyclr.errors import CyclrError
from bot.services.container import Services
from bot.services.links import LinkProblem, LinkUnavailable
from bot.store import LinkRef

__all__ = ["link_pages"]

R = TypeVar("R", bound=BaseResponse)

log = logging.getLogger(__name__)

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;background:#f6f7f9;color:#1d1c1d;margin:0}
main{max-width:32rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.4rem;margin:0 0 1rem}img{width:48px;height:48px;float:right;margin-left:1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}dt{color:#616061}dd{margin:0}
button{font:inherit;font-weight:600;background:#007a5a;color:#fff;border:0;border-radius:6px;
padding:.7rem 1.4rem;cursor:pointer}button:focus{outline:3px solid #1264a3;outline-offset:2px}
.note{color:#616061;font-size:.9rem}.sandbox{background:#fff4d6;padding:.5rem;border-radius:6px}
"""

#: What a ref can look like (``secrets.token_urlsafe``); anything else is not looked up at all.
_REF = re.compile(r"[A-Za-z0-9_-]{1,64}")

_SANDBOX = '<p class="sandbox">Cyclr sandbox: nothing here touches a real Cyclr account.</p>'


def link_pages(services: Services) -> Blueprint:
    pages = Blueprint("link_pages", __name__)
    settings = services.settings
    service_origin = _origin(settings.cyclr_service_url)
    own_origin = _origin(settings.public_url or "")
    hsts = (settings.public_url or "").lower().startswith("https://")

    def secure(response: R) -> R:
        return _secure(response, service_origin, hsts=hsts or request.is_secure)

    def page(title: str, body: str, status: int = 200) -> Response:
        banner = _SANDBOX if services.sandbox else ""
        document = (
            f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><main>{banner}{body}</main></body></html>"
        )
        return secure(Response(document, status=status, mimetype="text/html"))

    def how_to(link: LinkRef | None) -> str:
        name = html.escape(link.connector_name) if link else "the connector"
        return (
            f"Run <code>/cyclr auth {name}</code> in Slack, or press <b>Get a new link</b> in the bot's "
            "direct message."
        )

    def not_found() -> Response:
        return page("Link not found", f"<h1>This link is not valid</h1><p>{how_to(None)}</p>", 404)

    def unavailable(error: LinkUnavailable) -> Response:
        link = error.link
        name = html.escape(link.connector_name) if link else "the connector"
        how = how_to(link)
        if error.problem is LinkProblem.UNKNOWN:
            return not_found()
        if error.problem is LinkProblem.GONE:
            return page(
                "Connector removed",
                f"<h1>{name} is no longer installed</h1>"
                "<p>Install it again with <code>/cyclr install</code>.</p>",
                410,
            )
        if error.problem is LinkProblem.AUTHORISED:
            return page(
                "Already authorised",
                f"<h1>{name} is already authorised</h1><p>This link is no longer needed. "
                f"To sign in again with another login: {how}</p>",
                410,
            )
        if error.problem is LinkProblem.NOT_ARMED:
            return page(
                "Press the button in Slack",
                "<h1>Press the button in Slack first</h1><p>This page starts a sign-in only right "
                f"after you press <b>Authorise {name}</b> (or <b>Open Cyclr sign-in</b>) in the bot's "
                "direct message, and once per press. Go back to Slack, press it again and then "
                "<b>Continue</b>.</p>"
                f'<p class="note">No button there? {how}</p>',
                403,
            )
        if error.problem is LinkProblem.EXPIRED:
            return page("Link expired", f"<h1>This link has expired</h1><p>{how}</p>", 410)
        return page(
            "Link withdrawn",
            "<h1>This link was withdrawn</h1><p>A newer link replaced it, the wait for the sign-in "
            f"ran out, or the connector was uninstalled. {how}</p>",
            410,
        )

    def describe(link: LinkRef, *, who: bool = True) -> str:
        account = html.escape(services.accounts.fetch_name(link.account_id))
        requested = f"<dt>Requested by</dt><dd>Slack user {html.escape(link.user_id)}</dd>" if who else ""
        return (
            f"<dl><dt>Connector</dt><dd>{html.escape(link.connector_name)}</dd>"
            f"<dt>Account</dt><dd>{account}</dd>{requested}</dl>"
        )

    @pages.get("/authorise/<ref>")
    def authorise_page(ref: str) -> Response:
        if not _REF.fullmatch(ref):
            return not_found()
        try:
            link = services.links.usable(ref)
        except LinkUnavailable as error:
            return unavailable(error)
        icon = _icon(services, link)
        body = (
            f"{icon}<h1>Authorise {html.escape(link.connector_name)}</h1>{describe(link)}"
            f'<form method="post" action="/authorise/{html.escape(ref)}">'
            f"<p>Continue to sign in with {html.escape(link.connector_name)} through Cyclr. "
            f"Each press of the button in Slack allows one fresh one-time sign-in.</p>"
            f'<button type="submit">Continue</button></form>'
            f'<p class="note">Only {html.escape(link.user_id)} can use this link.</p>'
        )
        return page(f"Authorise {link.connector_name}", body)

    @pages.post("/authorise/<ref>")
    def authorise_continue(ref: str) -> BaseResponse:
        if _cross_site(own_origin):
            return page(
                "Refused",
                "<h1>This request came from another site</h1><p>Open the link from the bot's "
                f"direct message in Slack and press Continue on its page. {how_to(None)}</p>",
                403,
            )
        if not _REF.fullmatch(ref):
            return not_found()
        try:
            signin = services.links.mint_for_ref(ref)
        except LinkUnavailable as error:
            return unavailable(error)
        except CyclrError as error:
            log.warning("minting a sign-in token failed: %s", type(error).__name__)
            return page(
                "Cyclr is not answering",
                "<h1>Cyclr did not answer</h1><p>"
                f"{html.escape(error.user_message)}. In a moment, press the button in Slack again "
                "and then Continue.</p>",
                502,
            )
        return secure(redirect(signin.url, code=303))

    @pages.get("/authorised/<return_id>")
    def authorised(return_id: str) -> Response:
        link = services.links.returned(return_id) if _REF.fullmatch(return_id) else None
        if link is None:  # unknown and dead look the same
            return page(
                "Link no longer valid",
                f"<h1>This link is no longer valid</h1><p>{how_to(None)}</p>",
                404,
            )
        try:
            done = services.links.confirm(link)
        except CyclrError:
            done = False
        name = html.escape(link.connector_name)
        if done:
            return page(
                "Authorised",
                f"<h1>{name} is authorised</h1>{describe(link, who=False)}"
                "<p>You can close this tab. Slack has been told.</p>",
            )
        return page(
            "Not yet confirmed",
            f"<h1>Cyclr has not confirmed {name} yet</h1>{describe(link, who=False)}"
            "<p>If you finished signing in, you can close this tab: the bot keeps checking and "
            "will tell you in Slack. If you cancelled, press <b>Get a new link</b> in Slack.</p>",
        )

    return pages


def _origin(url: str) -> str:
    """``scheme://host[:port]`` in lower case, the default port left out; "" if not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        return ""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def _cross_site(own_origin: str) -> bool:
    """The request comes from another site's page, by ``Sec-Fetch-Site`` or ``Origin``.

    Our own form is ``same-origin``. Its ``Origin`` is ``null`` in browsers (the pages'
    ``Referrer-Policy: no-referrer`` does that), so ``null`` passes only with
    ``Sec-Fetch-Site: same-origin``. A client that sends neither header (no browser does
    for a form POST today) is not a browser another site could drive.
    """
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin", "").strip()
    if not origin:
        return False
    if origin == "null":
        return site != "same-origin"
    return _origin(origin) != own_origin or not own_origin


def _icon(services: Services, link: LinkRef) -> str:
    """The connector's icon from the cached catalogue, if any (never a call to Cyclr here)."""
    record = services.store.get_install(link.install_id) if link.install_id else None
    catalogue = services.catalogue.peek(link.account_id)
    if record is None or catalogue is None:
        return ""
    connector = catalogue.get(record.connector_id)
    icon = connector.icon if connector else None
    if not icon or not icon.startswith("data:image/") or len(icon) > 200_000:
        return ""
    return f'<img src="{html.escape(icon)}" alt="">'


def _secure(response: R, service_origin: str, *, hsts: bool) -> R:
    form_targets = " ".join(t for t in ("'self'", service_origin) if t)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"form-action {form_targets}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if hsts:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response

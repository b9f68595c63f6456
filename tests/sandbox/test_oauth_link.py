"""Sign-in tokens and the OAuth link pages on the partner service domain."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import requests

from bot.cyclr.models import SignInToken
from bot.cyclr.sandbox import CyclrSandbox, ManualClock
from tests.fixtures.sandbox import MakeSandbox
from tests.sandbox.conftest import TIMEOUT, Http

FORBIDDEN = "403 \u2013 Forbidden: Access is denied."
PATH = "/connectorauth/updateaccountconnectoroauth"
DONE = "https://bot.example.com/authorised/ref-1"


def _mint(http: Http, account: str = "acme-prod", username: str = "slack-T1-U1") -> requests.Response:
    return http.post(f"/v1.0/accounts/{account}/signintoken", json={"Username": username})


def _link(sandbox: CyclrSandbox, account_connector_id: int, token: str, **extra: str) -> str:
    query = urlencode({"id": account_connector_id, "token": token, "targetOrigin": DONE, **extra})
    return f"{sandbox.service_url}{PATH}?{query}"


def _consent_id(page: str) -> str:
    match = re.search(r'name="consent" value="([^"]+)"', page)
    assert match is not None, page
    return match.group(1)


def _authenticated(http: Http, account_connector_id: int) -> bool:
    response = http.get(f"/v1.0/account/connectors/{account_connector_id}", account="acme-prod")
    return bool(response.json()["Authenticated"])


def _oauth_install(http: Http, name: str = "Salesforce") -> int:
    response = http.install("Salesforce", {"Name": name})
    assert response.json()["Authenticated"] is False
    return int(response.json()["Id"])


def test_signin_token_is_random_and_expires_in_signin_ttl(make_cyclr_sandbox: MakeSandbox) -> None:
    clock = ManualClock(1_700_000_000.25)
    sandbox = make_cyclr_sandbox(clock=clock, signin_ttl=300)
    http = Http(sandbox)
    try:
        first, second = _mint(http), _mint(http)
    finally:
        http.close()

    body = first.json()
    assert first.status_code == 200 and set(body) == {"Token", "ExpiresAtUtc"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", body["ExpiresAtUtc"])
    assert body["ExpiresAtUtc"] == "2023-11-14T22:18:20.2500000Z"
    assert SignInToken.from_api(body).expires_at == datetime.fromtimestamp(1_700_000_300.25, UTC)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", body["Token"])
    assert second.json()["Token"] != body["Token"]
    assert sandbox.signin_tokens_issued == 2
    assert sandbox.state.users("acme-prod") == ["slack-T1-U1"]


def test_signin_token_errors(http: Http) -> None:
    unknown = _mint(http, account="nobody")
    no_username = http.post("/v1.0/accounts/acme-prod/signintoken", json={})
    no_body = http.post("/v1.0/accounts/acme-prod/signintoken")
    no_token = http.post("/v1.0/accounts/acme-prod/signintoken", json={"Username": "u"}, auth=False)

    assert unknown.status_code == 404
    assert no_username.status_code == 400 and no_username.json() == {"Message": "Username is required."}
    assert no_body.status_code == 400
    assert no_token.status_code == 401


def test_oauth_flow_end_to_end_authenticates_the_connector(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    account_connector_id = _oauth_install(http)
    link = _link(cyclr_sandbox, account_connector_id, _mint(http).json()["Token"])
    browser = requests.Session()

    page = browser.get(link, timeout=TIMEOUT)
    consent = _consent_id(page.text)
    assert page.status_code == 200 and "Salesforce" in page.text and "Acme Ltd" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert 'id="allow"' in page.text
    assert _authenticated(http, account_connector_id) is False

    answer = browser.post(
        f"{cyclr_sandbox.service_url}{PATH}",
        data={"consent": consent, "decision": "allow"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )

    assert answer.status_code == 302 and answer.headers["Location"] == DONE
    assert _authenticated(http, account_connector_id) is True
    assert cyclr_sandbox.auth_received("acme-prod", account_connector_id).via == "oauth"
    assert consent not in link and "token" not in page.text.split("<form", 1)[1]


def test_a_sign_in_token_works_once(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    link = _link(cyclr_sandbox, _oauth_install(http), _mint(http).json()["Token"])

    first = requests.get(link, timeout=TIMEOUT)
    second = requests.get(link, timeout=TIMEOUT)

    assert first.status_code == 200
    assert second.status_code == 403 and FORBIDDEN in second.text
    assert second.headers["Content-Type"].startswith("text/html")


def test_a_consent_can_be_answered_once(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    page = requests.get(
        _link(cyclr_sandbox, _oauth_install(http), _mint(http).json()["Token"]), timeout=TIMEOUT
    )
    form = {"consent": _consent_id(page.text), "decision": "allow"}
    url = f"{cyclr_sandbox.service_url}{PATH}"

    first = requests.post(url, data=form, allow_redirects=False, timeout=TIMEOUT)
    second = requests.post(url, data=form, allow_redirects=False, timeout=TIMEOUT)
    made_up = requests.post(url, data={"consent": "made-up", "decision": "allow"}, timeout=TIMEOUT)
    no_decision = requests.post(url, data={"consent": "x"}, timeout=TIMEOUT)

    assert first.status_code == 302
    assert second.status_code == 403 and made_up.status_code == 403
    assert no_decision.status_code == 400


def test_expired_sign_in_token_is_forbidden(make_cyclr_sandbox: MakeSandbox) -> None:
    clock = ManualClock()
    sandbox = make_cyclr_sandbox(clock=clock, signin_ttl=300)
    http = Http(sandbox)
    try:
        account_connector_id = _oauth_install(http)
        late = _link(sandbox, account_connector_id, _mint(http).json()["Token"])
        in_time = _link(sandbox, account_connector_id, _mint(http).json()["Token"])
        clock.advance(299)
        assert requests.get(in_time, timeout=TIMEOUT).status_code == 200
        clock.advance(1)
        response = requests.get(late, timeout=TIMEOUT)
    finally:
        http.close()

    assert response.status_code == 403 and FORBIDDEN in response.text


def test_deny_redirects_without_authenticating(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    account_connector_id = _oauth_install(http)

    outcome = cyclr_sandbox.click_through(
        _link(cyclr_sandbox, account_connector_id, _mint(http).json()["Token"]), allow=False
    )

    assert outcome.redirected and outcome.location == DONE
    assert cyclr_sandbox.installed("acme-prod")[0]["Authenticated"] is False


def test_callback_message_answers_with_a_post_message_page(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    account_connector_id = _oauth_install(http)
    link = _link(
        cyclr_sandbox, account_connector_id, _mint(http).json()["Token"], callbackMessage="done</script>"
    )

    outcome = cyclr_sandbox.click_through(link)

    assert outcome.status == 200 and outcome.location is None
    assert 'postMessage("done\\u003c/script>","https://bot.example.com/authorised/ref-1")' in outcome.body
    assert cyclr_sandbox.installed("acme-prod")[0]["Authenticated"] is True


def test_auto_approve_flag_finishes_in_one_get(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    account_connector_id = _oauth_install(http)
    link = _link(cyclr_sandbox, account_connector_id, _mint(http).json()["Token"], autoApprove="1")

    response = requests.get(link, allow_redirects=False, timeout=TIMEOUT)

    assert response.status_code == 302 and response.headers["Location"] == DONE
    assert cyclr_sandbox.installed("acme-prod")[0]["Authenticated"] is True


def test_the_token_only_opens_connectors_of_its_own_account(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    elsewhere = http.install("Salesforce", account="globex-eu").json()["Id"]

    foreign = requests.get(_link(cyclr_sandbox, elsewhere, _mint(http).json()["Token"]), timeout=TIMEOUT)
    missing = requests.get(_link(cyclr_sandbox, 999_999, _mint(http).json()["Token"]), timeout=TIMEOUT)

    assert foreign.status_code == 404 and missing.status_code == 404
    assert cyclr_sandbox.installed("globex-eu")[0]["Authenticated"] is False


def test_incomplete_or_bad_links_are_refused_without_using_the_token(
    cyclr_sandbox: CyclrSandbox, http: Http
) -> None:
    account_connector_id = _oauth_install(http)
    token = _mint(http).json()["Token"]
    base = f"{cyclr_sandbox.service_url}{PATH}"

    no_target = requests.get(base, params={"id": account_connector_id, "token": token}, timeout=TIMEOUT)
    bad_target = requests.get(
        base, params={"id": account_connector_id, "token": token, "targetOrigin": "nope"}, timeout=TIMEOUT
    )
    then_ok = requests.get(_link(cyclr_sandbox, account_connector_id, token), timeout=TIMEOUT)

    assert no_target.status_code == 400 and bad_target.status_code == 400
    assert then_ok.status_code == 200


def test_link_pages_live_on_the_service_domain_only(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    account_connector_id = _oauth_install(http)
    token = _mint(http).json()["Token"]
    on_api_domain = _link(cyclr_sandbox, account_connector_id, token).replace(
        cyclr_sandbox.service_url, cyclr_sandbox.api_url
    )

    assert cyclr_sandbox.service_url.startswith("http://localhost:")
    assert requests.get(on_api_domain, timeout=TIMEOUT).status_code == 404
    assert requests.get(f"{cyclr_sandbox.service_url}/v1.0/accounts", timeout=TIMEOUT).status_code == 404
    assert requests.get(_link(cyclr_sandbox, account_connector_id, token), timeout=TIMEOUT).status_code == 200


def test_oauth_link_and_click_through_helpers(cyclr_sandbox: CyclrSandbox, http: Http) -> None:
    account_connector_id = _oauth_install(http)
    link = cyclr_sandbox.oauth_link("acme-prod", account_connector_id, DONE)

    first = cyclr_sandbox.click_through(link)
    again = cyclr_sandbox.click_through(link)

    assert first.redirected and first.location == DONE
    assert again.status == 403 and not again.redirected
    assert cyclr_sandbox.installed("acme-prod")[0]["Authenticated"] is True

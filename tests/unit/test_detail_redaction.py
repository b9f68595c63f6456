# ruff: noqa: E501  (the corpus quotes whole request lines)
"""Redaction of Cyclr's error ``Detail`` (the raw third-party request and response): a corpus
of realistic details, each with the credentials that must vanish and the words that must stay
(so that a redactor masking everything fails too)."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import redact
from bot.services.redaction import redact_detail

# (name, detail, secrets that must not survive, words that must survive)
CORPUS: list[tuple[str, str, list[str], list[str]]] = [
    (
        "bearer header",
        "Request: GET https://api.hubapi.com/crm/v3/objects/contacts\r\n"
        "Authorization: Bearer pat-na1-2f4c9e1a-77d3-4b1e-9b1c-0c9f1d2e3a4b\r\n"
        'Response: 401 Unauthorized\r\n{"status":"error","message":"Authentication credentials not found"}',
        ["pat-na1-2f4c9e1a-77d3-4b1e-9b1c-0c9f1d2e3a4b"],
        ["401 Unauthorized", "api.hubapi.com"],
    ),
    (
        "basic header",
        "POST https://acme.zendesk.com/api/v2/tickets.json\nAuthorization: Basic YWdlbnRAYWNtZS5jb206czNjcjN0UGFzcw==\n"
        "HTTP/1.1 422 Unprocessable Entity",
        ["YWdlbnRAYWNtZS5jb206czNjcjN0UGFzcw=="],
        ["422 Unprocessable Entity", "tickets.json"],
    ),
    (
        "x-api-key header",
        "PUT https://api.example.io/v2/orders/77\nX-Api-Key: 5b6c7d8e9f0a1b2c3d4e5f60718293a4\nContent-Type: application/json\n"
        "500 Internal Server Error",
        ["5b6c7d8e9f0a1b2c3d4e5f60718293a4"],
        ["Content-Type: application/json", "500 Internal Server Error"],
    ),
    (
        "ApiKey header",
        "GET https://api.pipedrive.example/v1/deals\nApiKey: pd_8c1d2e3f4a5b6c7d8e9f\nAccept: application/json\n404 Not Found",
        ["pd_8c1d2e3f4a5b6c7d8e9f"],
        ["Accept: application/json", "404 Not Found"],
    ),
    (
        "shopify access token header",
        "POST https://acme.myshopify.com/admin/api/2024-01/orders.json\n"
        "X-Shopify-Access-Token: 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\n429 Too Many Requests",
        ["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"],
        ["429 Too Many Requests"],
    ),
    (
        "token in query string",
        "GET https://graph.facebook.com/v18.0/me/accounts?access_token=EAAGm0PX4ZCpsBAKZC7xYz&limit=25\n400 Bad Request",
        ["EAAGm0PX4ZCpsBAKZC7xYz"],
        ["limit=25", "400 Bad Request"],
    ),
    (
        "api_key in query string",
        "GET https://api.mailchimp.example/3.0/lists?api_key=0f1e2d3c4b5a69788796a5b4c3d2e1f0-us21&count=10 -> 401",
        ["0f1e2d3c4b5a69788796a5b4c3d2e1f0-us21"],
        ["count=10", "401"],
    ),
    (
        "azure sas signature",
        "PUT https://acme.blob.core.windows.net/exports/file.csv?sv=2022-11-02&ss=b&sig=Zm9vYmFyJTJCYmF6cXV4MTIz%3D&se=2026-12-31\n"
        "403 AuthenticationFailed",
        ["Zm9vYmFyJTJCYmF6cXV4MTIz%3D"],
        ["sv=2022-11-02", "403 AuthenticationFailed"],
    ),
    (
        "basic auth in url",
        "POST https://svc_user:Hunter2-Pa55@ftp-gw.acme.example/upload\nConnection refused",
        ["Hunter2-Pa55", "svc_user:Hunter2-Pa55"],
        ["ftp-gw.acme.example/upload", "Connection refused"],
    ),
    (
        "json password field",
        'POST https://login.example.com/oauth/token\n{"grant_type":"password","username":"ops@acme.com",'
        '"password":"Tr0ub4dor&3","client_id":"abc"}\n400 {"error":"invalid_grant"}',
        ["Tr0ub4dor&3"],
        ["invalid_grant", "ops@acme.com"],
    ),
    (
        "json client secret and refresh token",
        'POST https://oauth2.googleapis.com/token\n{"client_id":"1234.apps.googleusercontent.com",'
        '"client_secret":"GOCSPX-abcDEF123ghiJKL456","refresh_token":"1//0gLmNoPqRsTuV-wxyz",'
        '"grant_type":"refresh_token"}\n400 {"error":"invalid_grant","error_description":"Token has been expired or revoked."}',
        ["GOCSPX-abcDEF123ghiJKL456", "1//0gLmNoPqRsTuV-wxyz"],
        ["Token has been expired or revoked.", "oauth2.googleapis.com"],
    ),
    (
        "json access token in response",
        'Response 200 but mapping failed: {"access_token":"ya29.a0AfH6SMBx-very-long-token","expires_in":3599,'
        '"token_type":"Bearer"} Field "Email" is required.',
        ["ya29.a0AfH6SMBx-very-long-token"],
        ['Field "Email" is required.', "expires_in"],
    ),
    (
        "headers as json object",
        'Request headers: {"Authorization":"Bearer sk-live-abcdefghijklmnop1234","Content-Type":"application/json"}'
        "\nResponse: 502 Bad Gateway",
        ["sk-live-abcdefghijklmnop1234"],
        ["application/json", "502 Bad Gateway"],
    ),
    (
        "headers as list of pairs",
        'Headers: [["Authorization", "Token tok_9f8e7d6c5b4a3210"], ["Accept", "application/json"]] 401',
        ["tok_9f8e7d6c5b4a3210"],
        ["Accept", "401"],
    ),
    (
        "cookie and set-cookie",
        "GET https://portal.acme.example/api/items\nCookie: SESSIONID=8f7e6d5c4b3a29181716; theme=dark\n"
        "HTTP/1.1 302 Found\nSet-Cookie: SESSIONID=0a0b0c0d0e0f; HttpOnly\nLocation: /login",
        ["8f7e6d5c4b3a29181716", "0a0b0c0d0e0f"],
        ["302 Found", "Location: /login"],
    ),
    (
        "jwt free-standing",
        "Token rejected: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U expired",
        ["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"],
        ["Token rejected", "expired"],
    ),
    (
        "slack tokens",
        "POST https://slack.com/api/chat.postMessage token=xoxb-1234-5678-AbCdEfGhIjKl channel=C123 -> not_in_channel",
        ["xoxb-1234-5678-AbCdEfGhIjKl"],
        ["not_in_channel", "chat.postMessage"],
    ),
    (
        "stripe key",
        "POST https://api.stripe.com/v1/charges\nAuthorization: Bearer sk_live_51HxYzAbCdEfGhIjKlMn\n"
        '402 {"error":{"code":"card_declined","message":"Your card was declined."}}',
        ["sk_live_51HxYzAbCdEfGhIjKlMn"],
        ["Your card was declined.", "card_declined"],
    ),
    (
        "github token in text",
        "git push failed for https://github.com/acme/repo using ghp_1234567890abcdefghijklmnopqrstuvwxyz: 403",
        ["ghp_1234567890abcdefghijklmnopqrstuvwxyz"],
        ["github.com/acme/repo", "403"],
    ),
    (
        "aws access key",
        "PutObject denied for AKIAIOSFODNN7EXAMPLE on bucket acme-exports: AccessDenied",
        ["AKIAIOSFODNN7EXAMPLE"],
        ["acme-exports", "AccessDenied"],
    ),
    (
        "google api key",
        "GET https://maps.googleapis.com/maps/api/geocode/json?address=Leeds&key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW\n"
        "REQUEST_DENIED",
        ["AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW"],
        ["address=Leeds", "REQUEST_DENIED"],
    ),
    (
        "sendgrid key",
        "Authorization header SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg refused: 401",
        ["SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg"],
        ["refused: 401"],
    ),
    (
        "xml api key element",
        "POST https://soap.acme.example/Service.asmx\n<soap:Envelope><soap:Header><ApiKey>9a8b7c6d5e4f</ApiKey>"
        "<Password>letmein-99</Password></soap:Header></soap:Envelope>\n500 Server was unable to process request.",
        ["9a8b7c6d5e4f", "letmein-99"],
        ["Server was unable to process request.", "soap:Envelope"],
    ),
    (
        "form-encoded body",
        "POST https://login.salesforce.com/services/oauth2/token\n"
        "grant_type=password&client_id=3MVG9abc&client_secret=8F7E6D5C4B3A&username=api%40acme.com&password=S3cure%21pw\n"
        '400 {"error":"invalid_client_id"}',
        ["8F7E6D5C4B3A", "S3cure%21pw"],
        ["invalid_client_id", "grant_type=password"],
    ),
    (
        "proxy authorization",
        "CONNECT api.acme.example:443\nProxy-Authorization: Basic cHJveHk6cHJveHlwYXNz\n407 Proxy Authentication Required",
        ["cHJveHk6cHJveHlwYXNz"],
        ["407 Proxy Authentication Required"],
    ),
    (
        "x-auth-token lower case",
        "get https://api.acme.example/v1/me\nx-auth-token: 1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718\n401",
        ["1f2e3d4c-5b6a-7980-a1b2-c3d4e5f60718"],
        ["api.acme.example/v1/me"],
    ),
    (
        "python dict repr",
        "Request({'method': 'POST', 'headers': {'Authorization': 'Bearer abc.def.ghi-123456', 'X-Api-Key': 'k-998877665544'}})"
        " failed with 503",
        ["abc.def.ghi-123456", "k-998877665544"],
        ["failed with 503", "'method': 'POST'"],
    ),
    (
        "private key pem",
        'Config {"name":"sftp"} key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7V1b2c3d4\n'
        "-----END RSA PRIVATE KEY----- Auth failed",
        ["MIIEowIBAAKCAQEA7V1b2c3d4"],
        ["Auth failed"],
    ),
    (
        "webhook signature header",
        "POST https://hooks.acme.example/in\nX-Hub-Signature-256: sha256=7d38cdd689735b008b3c702edd92eea23791c5f6\n410 Gone",
        ["7d38cdd689735b008b3c702edd92eea23791c5f6"],
        ["410 Gone"],
    ),
    (
        "apikey scheme",
        "Authorization header was: ApiKey c2VjcmV0LWFwaS1rZXktdmFsdWU=; server said 401 Unauthorized",
        ["c2VjcmV0LWFwaS1rZXktdmFsdWU="],
        ["401 Unauthorized"],
    ),
    (
        "nested json secret fields",
        'Mapping error in step "Create Contact": {"contact":{"email":"a@b.c"},"auth":{"apiKey":"live_0987654321abcd",'
        '"secretKey":"shh-123456789"}} StatusCode=400',
        ["live_0987654321abcd", "shh-123456789"],
        ["Create Contact", "StatusCode=400"],
    ),
    (
        "plain error without secrets",
        "The remote server returned an error: (404) Not Found. Resource /v1/contacts/123 does not exist.",
        [],
        ["The remote server returned an error: (404) Not Found. Resource /v1/contacts/123 does not exist."],
    ),
    (
        "token parameter after space",
        "Calling https://api.trello.example/1/boards/abc/cards key=0123456789abcdef token=9876543210fedcba9876 -> 401 invalid token",
        ["0123456789abcdef", "9876543210fedcba9876"],
        ["401 invalid token"],
    ),
]


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30
    assert len({name for name, *_ in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize(("name", "detail", "secrets", "kept"), CORPUS, ids=[c[0] for c in CORPUS])
def test_a_detail_loses_its_credentials_and_keeps_the_rest(
    name: str, detail: str, secrets: list[str], kept: list[str]
) -> None:
    cleaned = redact_detail(detail)
    assert [s for s in secrets if s in cleaned] == [], cleaned
    assert [k for k in kept if k not in cleaned] == [], cleaned
    if secrets:
        assert "[redacted]" in cleaned


def test_redaction_is_idempotent_and_takes_nothing() -> None:
    for _, detail, _, _ in CORPUS:
        once = redact_detail(detail)
        assert redact_detail(once) == once
    assert redact_detail(None) == "" and redact_detail("") == ""


def test_the_webhook_secret_in_a_log_line_is_masked() -> None:
    line = '127.0.0.1 - - "POST /cyclr/webhook/a-dJhJYLFBnKNFXizj5n3I-ub-Vtihr4Xj2Lhi_ifws HTTP/1.1" 200 -'
    assert "a-dJhJYLFBnKNFXizj5n3I" not in redact(line)


def test_an_unknown_webhook_secret_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    from flask import Flask

    from bot.web.alerts import alert_webhook

    class _Alerts:
        def account_for_secret(self, secret: str) -> None:
            return None

    class _Services:
        alerts = _Alerts()

    web = Flask("t")
    web.register_blueprint(alert_webhook(_Services()))  # type: ignore[arg-type]
    secret = "guessed-secret-value-0123456789"
    with caplog.at_level(logging.INFO, logger="bot.web.alerts"):
        response = web.test_client().post(f"/cyclr/webhook/{secret}", data=json.dumps({}))
    assert response.status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.web.alerts"]
    assert len(lines) == 1 and secret not in lines[0]

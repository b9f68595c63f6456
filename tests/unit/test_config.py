"""Settings: every variable of INTERFACE.md, every problem named at once."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, normalise_database_url

FULL = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "shh-signing",
    "CYCLR_API_URL": "https://api.eu.cyclr.com/",
    "CYCLR_CLIENT_ID": "client-id",
    "CYCLR_CLIENT_SECRET": "very-secret-value",
    "CYCLR_ACCOUNT_ID": "acme-prod",
    "CYCLR_SERVICE_URL": "https://acme-h.eu.cyclr.com",
}


def test_full_http_configuration_is_read() -> None:
    s = Settings.from_env(
        FULL
        | {
            "CYCLR_NOTIFY_CHANNEL": "C0123ABC",
            "CYCLR_BOT_ADMINS": "U1AB, S2CD ,W3EF",
            "LOG_LEVEL": "debug",
            "LOG_FORMAT": "JSON",
            "PORT": "8080",
        }
    )
    assert s.mode == "http"
    assert s.cyclr_api_url == "https://api.eu.cyclr.com"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.admins == ("U1AB", "S2CD", "W3EF")
    assert s.installers == ()
    assert s.notify_channel == "C0123ABC"
    assert (s.log_level, s.log_format, s.port) == ("DEBUG", "json", 8080)
    assert s.database_url == "sqlite:///cyclr-bot.db"
    assert s.signin_username_for(team_id="T1", user_id="U2") == "slack-T1-U2"


def test_socket_mode_when_app_token_set_and_signing_secret_optional() -> None:
    env = dict(FULL, SLACK_APP_TOKEN="xapp-1-A-b")
    del env["SLACK_SIGNING_SECRET"]
    assert Settings.from_env(env).mode == "socket"
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env, mode="http")
    assert info.value.problems == ["SLACK_SIGNING_SECRET is required but not set"]


def test_every_problem_is_named_in_one_error() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxp-user-token",
        "CYCLR_API_URL": "api.cyclr.com",
        "CYCLR_BOT_ADMINS": "U1AB,alice",
        "CYCLR_NOTIFY_CHANNEL": "#general",
        "PORT": "http",
        "LOG_FORMAT": "xml",
        "CYCLR_SIGNIN_USERNAME": "slack-{team}",
    }
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    text = str(info.value)
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "CYCLR_API_URL",
        "CYCLR_CLIENT_ID",
        "CYCLR_CLIENT_SECRET",
        "CYCLR_ACCOUNT_ID",
        "CYCLR_SERVICE_URL",
        "CYCLR_BOT_ADMINS",
        "CYCLR_NOTIFY_CHANNEL",
        "PORT",
        "LOG_FORMAT",
        "CYCLR_SIGNIN_USERNAME",
    ):
        assert name in text, name
    assert len(info.value.problems) == 12
    assert "'alice'" in text


def test_sandbox_needs_no_cyclr_settings() -> None:
    s = Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "x"}, sandbox=True)
    assert s.sandbox and s.cyclr_api_url == "" and s.cyclr_account_id == ""


def test_secrets_stay_out_of_repr_and_are_listed() -> None:
    s = Settings.from_env(FULL | {"SLACK_APP_TOKEN": "xapp-1-A-secretapp"})
    text = repr(s)
    for secret in ("xoxb-1-2-abc", "shh-signing", "very-secret-value", "xapp-1-A-secretapp"):
        assert secret not in text
        assert secret in s.secrets


def test_slack_client_variables_warn() -> None:
    s = Settings.from_env(FULL | {"SLACK_CLIENT_ID": "1", "SLACK_CLIENT_SECRET": "2"})
    assert len(s.warnings) == 1
    assert "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET are set but not read" in s.warnings[0]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_as_platforms_write_them(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected
    assert Settings.from_env(FULL | {"CYCLR_BOT_DATABASE_URL": given}).database_url == expected


def test_numbers_out_of_range_are_refused() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(FULL | {"CYCLR_READ_TIMEOUT": "0", "CYCLR_BOT_WORKERS": "1000", "PORT": "70000"})
    assert len(info.value.problems) == 3


def test_return_url_template() -> None:
    default = Settings.from_env(FULL)
    assert (
        default.return_url_for(team_id="T1", channel_id="D2")
        == "https://slack.com/app_redirect?team=T1&channel=D2"
    )
    custom = Settings.from_env(
        FULL | {"CYCLR_BOT_RETURN_URL": "https://intranet.example/done?c={channel_id}"}
    )
    assert custom.return_url_for(team_id="T1", channel_id="D 2") == "https://intranet.example/done?c=D%202"
    with pytest.raises(ConfigError) as info:
        Settings.from_env(FULL | {"CYCLR_BOT_RETURN_URL": "https://x/{user}"})
    assert "CYCLR_BOT_RETURN_URL" in str(info.value)


@pytest.mark.parametrize(("given", "expected"), [(None, "channel"), ("channel", "channel"), ("ALL", "all")])
def test_installer_accounts(given: str | None, expected: str) -> None:
    env = FULL if given is None else FULL | {"CYCLR_BOT_INSTALLER_ACCOUNTS": given}
    assert Settings.from_env(env).installer_accounts == expected


def test_installer_accounts_must_be_channel_or_all() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(FULL | {"CYCLR_BOT_INSTALLER_ACCOUNTS": "some", "PORT": "x"})
    assert len(info.value.problems) == 2
    assert "CYCLR_BOT_INSTALLER_ACCOUNTS must be one of channel, all, got 'some'" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://cyclr-bot.example.com",
        "http://127.0.0.1:3000",
        "http://127.8.9.10",
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://[::1]:3000",
    ],
)
def test_public_url_is_https_or_on_loopback(url: str) -> None:
    assert Settings.from_env(FULL | {"CYCLR_BOT_PUBLIC_URL": url}).public_url == url


@pytest.mark.parametrize(
    "url", ["http://example.com", "http://10.0.0.5:3000", "http://[::2]", "http://localhost.example.com"]
)
def test_public_url_over_plain_http_elsewhere_is_a_configuration_problem(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(FULL | {"CYCLR_BOT_PUBLIC_URL": url})
    assert len(info.value.problems) == 1
    assert "CYCLR_BOT_PUBLIC_URL must be an https URL" in info.value.problems[0]


def test_links_live_an_hour_by_default() -> None:
    assert Settings.from_env(FULL).link_ttl_hours == 1
    assert Settings.from_env(FULL | {"CYCLR_BOT_LINK_TTL_HOURS": "4"}).link_ttl_hours == 4

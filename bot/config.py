"""Settings: every variable of INTERFACE.md, read once and validated together.

:meth:`Settings.from_env` never reads ``.env`` itself (the entry point does that) and never
stops at the first problem: it collects every one and raises :class:`ConfigError` naming them
all, so an operator fixes a broken deployment in one go.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, urlsplit

__all__ = ["ConfigError", "DEFAULT_DATABASE_URL", "InstallerAccounts", "Settings", "normalise_database_url"]

DEFAULT_DATABASE_URL = "sqlite:///cyclr-bot.db"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SIGNIN_USERNAME = "slack-{team_id}-{user_id}"
DEFAULT_RETURN_URL = "https://slack.com/app_redirect?team={team_id}&channel={channel_id}"

_PRINCIPAL = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

Mode = Literal["socket", "http"]
InstallerAccounts = Literal["channel", "all"]


class ConfigError(Exception):
    """One or more settings are missing or malformed; :attr:`problems` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"The configuration has {len(problems)} problem(s):\n{lines}")


def normalise_database_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` (as hosting platforms write them) to psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True, slots=True)
class Settings:
    """The bot's whole configuration. Secrets are kept out of ``repr``."""

    slack_bot_token: str = field(repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str = DEFAULT_SLACK_API_URL
    cyclr_api_url: str = ""
    cyclr_client_id: str = ""
    cyclr_client_secret: str = field(default="", repr=False)
    cyclr_account_id: str = ""
    cyclr_service_url: str = ""
    notify_channel: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    public_url: str | None = None
    admins: tuple[str, ...] = ()
    installers: tuple[str, ...] = ()
    #: ``CYCLR_BOT_INSTALLER_ACCOUNTS``: ``channel``, a non-admin works only on the channel's
    #: account (bound, else the default); ``all``, on every account.
    installer_accounts: InstallerAccounts = "channel"
    signin_username: str = DEFAULT_SIGNIN_USERNAME
    return_url: str = DEFAULT_RETURN_URL
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    port: int = 3000
    web_workers: int | None = None  #: gunicorn workers (WEB_CONCURRENCY); None: one
    web_threads: int = 16  #: threads per gunicorn worker (WEB_THREADS)
    cyclr_timeout: tuple[float, float] = (3.05, 10.0)
    catalogue_ttl: float = 300.0
    link_ttl_hours: float = 1.0
    workers: int = 64  #: threads of a worker process (CYCLR_BOT_WORKERS)
    job_lease: float = 120.0  #: seconds a claimed job is a worker's before another may take it
    reconcile_grace: float = 120.0
    reconcile_every: float = 60.0
    health_every: float = 900.0  #: seconds between connector health sweeps; 0: none
    incidents_every: float = 60.0  #: seconds between polls of Cyclr's incidents for alerts; 0: none
    sandbox: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def mode(self) -> Mode:
        """Socket Mode when an app-level token is configured, else HTTP."""
        return "socket" if self.slack_app_token else "http"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value in the settings, for the log redaction filter."""
        values = (
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.cyclr_client_secret,
        )
        return tuple(v for v in values if v)

    def signin_username_for(self, *, team_id: str, user_id: str) -> str:
        return self.signin_username.format(team_id=team_id, user_id=user_id)

    def return_url_for(self, *, team_id: str, channel_id: str | None) -> str:
        """Where Cyclr sends the browser after signing in, when the bot has no public URL."""
        return self.return_url.format(
            team_id=quote(team_id, safe=""), channel_id=quote(channel_id or "", safe="")
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        mode: Mode | None = None,
        sandbox: bool = False,
    ) -> Settings:
        """Build and validate settings; raise :class:`ConfigError` listing every problem.

        Args:
            environ: usually ``os.environ`` after ``.env`` was loaded.
            mode: force ``"http"`` (``run --http``) or ``"socket"``; ``None`` decides from
                ``SLACK_APP_TOKEN``.
            sandbox: the bot talks to the built-in Cyclr sandbox, so ``CYCLR_*`` connection
                settings are not required.
        """
        reader = _Reader(environ)
        bot_token = reader.required("SLACK_BOT_TOKEN", prefix="xoxb-")
        app_token = reader.optional("SLACK_APP_TOKEN", prefix="xapp-")
        effective_mode: Mode = mode or ("socket" if app_token else "http")
        if effective_mode == "socket" and not app_token:
            reader.problem("SLACK_APP_TOKEN is required for Socket Mode (an app-level token, xapp-…)")
        signing_secret = (
            reader.required("SLACK_SIGNING_SECRET")
            if effective_mode == "http"
            else reader.optional("SLACK_SIGNING_SECRET")
        )
        cyclr_required = not sandbox
        settings = cls(
            slack_bot_token=bot_token,
            slack_signing_secret=signing_secret,
            slack_app_token=app_token if effective_mode == "socket" else None,
            slack_api_url=reader.url("SLACK_API_URL", DEFAULT_SLACK_API_URL, trailing_slash=True),
            cyclr_api_url=reader.url("CYCLR_API_URL", None, required=cyclr_required),
            cyclr_client_id=reader.required("CYCLR_CLIENT_ID") if cyclr_required else "",
            cyclr_client_secret=reader.required("CYCLR_CLIENT_SECRET") if cyclr_required else "",
            cyclr_account_id=(
                reader.required("CYCLR_ACCOUNT_ID")
                if cyclr_required
                else reader.optional("CYCLR_ACCOUNT_ID") or ""
            ),
            cyclr_service_url=reader.url("CYCLR_SERVICE_URL", None, required=cyclr_required),
            notify_channel=reader.pattern("CYCLR_NOTIFY_CHANNEL", _CHANNEL, "a channel ID such as C0123ABCD"),
            database_url=normalise_database_url(
                reader.optional("CYCLR_BOT_DATABASE_URL") or DEFAULT_DATABASE_URL
            ),
            public_url=reader.public_url("CYCLR_BOT_PUBLIC_URL"),
            admins=reader.principals("CYCLR_BOT_ADMINS"),
            installers=reader.principals("CYCLR_BOT_INSTALLERS"),
            installer_accounts=(
                "all"
                if reader.choice("CYCLR_BOT_INSTALLER_ACCOUNTS", ("channel", "all"), "channel") == "all"
                else "channel"
            ),
            signin_username=reader.template("CYCLR_SIGNIN_USERNAME", DEFAULT_SIGNIN_USERNAME),
            return_url=reader.return_url("CYCLR_BOT_RETURN_URL", DEFAULT_RETURN_URL),
            log_level=reader.choice("LOG_LEVEL", _LOG_LEVELS, "INFO", upper=True),
            log_format="json" if reader.choice("LOG_FORMAT", ("text", "json"), "text") == "json" else "text",
            port=int(reader.number("PORT", 3000, minimum=1, maximum=65535, integer=True)),
            # Read here, not by gunicorn, so a bad value is a configuration problem, not a traceback.
            web_workers=int(reader.number("WEB_CONCURRENCY", 0, minimum=1, maximum=64, integer=True)) or None,
            web_threads=int(reader.number("WEB_THREADS", 16, minimum=1, maximum=256, integer=True)),
            cyclr_timeout=(
                reader.number("CYCLR_CONNECT_TIMEOUT", 3.05, minimum=0.1, maximum=60),
                reader.number("CYCLR_READ_TIMEOUT", 10.0, minimum=0.1, maximum=300),
            ),
            catalogue_ttl=reader.number("CYCLR_CATALOGUE_TTL", 300.0, minimum=5, maximum=86400),
            link_ttl_hours=reader.number("CYCLR_BOT_LINK_TTL_HOURS", 1.0, minimum=0.1, maximum=24 * 30),
            workers=int(reader.number("CYCLR_BOT_WORKERS", 64, minimum=1, maximum=256, integer=True)),
            job_lease=reader.number("CYCLR_BOT_JOB_LEASE", 120.0, minimum=2, maximum=3600),
            reconcile_grace=reader.number("CYCLR_BOT_RECONCILE_GRACE", 120.0, minimum=1, maximum=3600),
            reconcile_every=reader.number("CYCLR_BOT_RECONCILE_EVERY", 60.0, minimum=0.5, maximum=3600),
            health_every=reader.number("CYCLR_BOT_HEALTH_EVERY", 900.0, minimum=0, maximum=7 * 86400),
            incidents_every=reader.number("CYCLR_BOT_INCIDENTS_EVERY", 60.0, minimum=0, maximum=86400),
            sandbox=sandbox,
            warnings=tuple(reader.warnings()),
        )
        if reader.problems:
            raise ConfigError(reader.problems)
        return settings


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Reader:
    """Reads variables, collecting problems instead of raising at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def _get(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def optional(self, name: str, *, prefix: str | None = None) -> str | None:
        value = self._get(name)
        if value is not None and prefix and not value.startswith(prefix):
            self.problem(f"{name} must start with {prefix!r}")
        return value

    def required(self, name: str, *, prefix: str | None = None) -> str:
        value = self._get(name)
        if value is None:
            self.problem(f"{name} is required but not set")
            return ""
        if prefix and not value.startswith(prefix):
            self.problem(f"{name} must start with {prefix!r}")
        return value

    def url(
        self, name: str, default: str | None, *, required: bool = False, trailing_slash: bool = False
    ) -> str:
        value = self._get(name)
        if value is None:
            if required:
                self.problem(f"{name} is required but not set")
            return default or ""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem(f"{name} must be an http(s) URL such as https://example.com, got {value!r}")
            return default or ""
        if parts.query or parts.fragment:
            self.problem(f"{name} must not have a query string or fragment")
        if trailing_slash:
            return value if value.endswith("/") else value + "/"
        return value.rstrip("/")

    def public_url(self, name: str) -> str | None:
        """An https URL; plain http only on loopback (links there never cross a network)."""
        value = self.url(name, None)
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https" and not _is_loopback(parts.hostname or ""):
            self.problem(
                f"{name} must be an https URL (http is allowed only on 127.0.0.1, ::1 or localhost),"
                f" got {value!r}"
            )
            return None
        return value

    def pattern(self, name: str, regex: re.Pattern[str], what: str) -> str | None:
        value = self._get(name)
        if value is not None and not regex.match(value):
            self.problem(f"{name} must be {what}, got {value!r}")
            return None
        return value

    def principals(self, name: str) -> tuple[str, ...]:
        value = self._get(name)
        if value is None:
            return ()
        items = [item.strip() for item in value.split(",") if item.strip()]
        bad = [item for item in items if not _PRINCIPAL.match(item)]
        if bad:
            self.problem(
                f"{name} must be a comma list of Slack user IDs (U…, W…) or user-group IDs (S…);"
                f" not understood: {', '.join(repr(b) for b in bad)}"
            )
        return tuple(dict.fromkeys(i for i in items if _PRINCIPAL.match(i)))

    def template(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError:
            self.problem(f"{name} is not a valid template (unbalanced braces)")
            return default
        unknown = fields - {"team_id", "user_id"}
        if unknown:
            self.problem(
                f"{name} may only use {{team_id}} and {{user_id}}; unknown: {', '.join(sorted(unknown))}"
            )
            return default
        if "user_id" not in fields:
            self.problem(f"{name} must contain {{user_id}} so each Slack user gets their own Cyclr user")
            return default
        return value

    def return_url(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError:
            fields = {"?"}
        parts = urlsplit(value)
        if fields - {"team_id", "channel_id"} or parts.scheme not in ("http", "https") or not parts.hostname:
            self.problem(
                f"{name} must be an http(s) URL that may use {{team_id}} and {{channel_id}}, got {value!r}"
            )
            return default
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str, *, upper: bool = False) -> str:
        value = self._get(name)
        if value is None:
            return default
        value = value.upper() if upper else value.lower()
        if value not in choices:
            self.problem(f"{name} must be one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def number(
        self, name: str, default: float, *, minimum: float, maximum: float, integer: bool = False
    ) -> float:
        value = self._get(name)
        if value is None:
            return default
        try:
            number = float(int(value)) if integer else float(value)
        except ValueError:
            self.problem(f"{name} must be {'a whole number' if integer else 'a number'}, got {value!r}")
            return default
        if not minimum <= number <= maximum:
            self.problem(f"{name} must be between {minimum:g} and {maximum:g}, got {value}")
            return default
        return number

    def warnings(self) -> list[str]:
        found = sorted(k for k in self._env if k.startswith("SLACK_CLIENT_"))
        if not found:
            return []
        return [
            f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} set but not read: this bot is"
            " single-workspace, and Bolt would silently switch to multi-workspace OAuth with file"
            " storage. Remove them from the environment and .env."
        ]

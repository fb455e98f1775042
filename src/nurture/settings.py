"""The one settings object. Every field is an environment variable ``NURTURE_<FIELD>``.

Secrets (the database and mail URLs may hold passwords, the signing key, the API key) are
``SecretStr``: ``repr``, logs and ``model_dump_json`` show ``**********``. Read one in clear
with ``.get_secret_value()``, only where it is used (an engine, a transport, a signer); to
show a URL, print ``masked_url(...)``.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NURTURE_", env_file=".env", extra="ignore")

    database_url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///var/nurture.db"),
        description="SQLAlchemy URL. sqlite:///path or postgresql://user@host/db; the async "
        "driver (aiosqlite, asyncpg) is filled in when omitted.",
    )
    mail_url: SecretStr = Field(
        SecretStr("file://var/outbox"),
        description="Where mail goes: file://DIR (one .eml per message), smtp://host:port, "
        "smtp+starttls://user:pass@host:587, smtps://user:pass@host:465, memory:// (tests). "
        "Query options: ?pool=N parallel SMTP connections, ?timeout=S seconds.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL of `nurture serve`; links in emails (confirm, unsubscribe) use it.",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="Signs links in emails. Unset: a random key is created once in "
        "VAR_DIR/secret.key, so links stay valid across restarts on one machine.",
    )
    api_key: SecretStr = Field(
        SecretStr(""),
        description="Bearer key for the CRM API (POST /api/leads/{id}/stage); empty: off.",
    )
    config_dir: Path = Field(Path("config"), description="Folder with forms/, sequences/ YAML.")
    templates_dir: Path = Field(
        Path("templates"), description="Folder with email/ and landing/ Jinja templates."
    )
    var_dir: Path = Field(Path("var"), description="Local state: SQLite file, outbox, keys.")
    dispatch_interval_seconds: float = Field(
        60, gt=0, description="How often `nurture serve` starts a dispatch pass."
    )
    dispatch_batch_size: int = Field(
        500, ge=1, le=10_000, description="Touches one task run claims, renders and sends."
    )
    dispatch_chunk_size: int = Field(
        100,
        ge=1,
        le=1_000,
        description="Touches marked 'sending' together before SMTP: the most that can end "
        "in doubt when a dispatcher dies mid-send.",
    )
    lease_seconds: int = Field(
        300, ge=10, description="How long a claim holds before another dispatcher may take it."
    )
    retry_base_seconds: int = Field(
        900, ge=1, description="First retry delay after an SMTP 4xx; doubles each attempt."
    )
    max_attempts: int = Field(
        5, ge=1, description="SMTP 4xx attempts before a touch counts as a soft bounce."
    )
    confirmation_max_age_days: int = Field(
        14, ge=1, description="How long a double opt-in link stays valid."
    )
    # Signals (docs/signals.md): what comes back from the mail system and the website.
    inbox_url: SecretStr = Field(
        SecretStr(""),
        description="The mailbox replies and bounce reports arrive in: "
        "imaps://user:pass@host:993/INBOX, imap://user:pass@host/INBOX (STARTTLS where "
        "offered), or maildir:///path/to/Maildir. Empty: no inbox is read.",
    )
    ses_topic_arns: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Amazon SES: the SNS topic ARNs whose notifications "
        "POST /api/mail-events/ses accepts (comma-separated). Empty: the endpoint is off.",
    )
    postmark_webhook_user: str = Field(
        "", description="Postmark: the basic-auth user of the webhook URL. Empty: off."
    )
    postmark_webhook_password: SecretStr = Field(
        SecretStr(""), description="Postmark: the basic-auth password of the webhook URL."
    )
    sendgrid_webhook_public_key: str = Field(
        "",
        description="SendGrid: the signed event webhook's verification key (base64 DER or "
        "PEM, from the SendGrid settings). Empty: off.",
    )
    mailgun_signing_key: SecretStr = Field(
        SecretStr(""), description="Mailgun: the HTTP webhook signing key. Empty: off."
    )
    tracking_key: str = Field(
        "",
        description="Public write key for POST /api/track from browsers (t.js): page and "
        "track calls of anonymous visitors only. Empty: only the API key is accepted.",
    )
    tracking_cookie_domain: str = Field(
        "",
        description="Domain of the nurture_aid cookie (e.g. example.com) when nurture runs "
        "on a subdomain of the website, so t.js on the site and a tracked click share it. "
        "Empty: each host its own cookie.",
    )

    @field_validator("ses_topic_arns", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, secret: SecretStr) -> SecretStr:
        url = secret.get_secret_value()
        if url.startswith(("postgresql://", "postgres://")):
            return SecretStr("postgresql+asyncpg://" + url.split("://", 1)[1])
        if url.startswith("sqlite://"):
            return SecretStr("sqlite+aiosqlite://" + url.split("://", 1)[1])
        return secret

    def resolved_secret_key(self) -> str:
        """The key that signs links, in clear: ``secret_key``, else the one kept in var/."""
        if self.secret_key.get_secret_value():
            return self.secret_key.get_secret_value()
        path = self.var_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


def masked_url(url: SecretStr | str) -> str:
    """The URL with its password as ``***`` (user, host, path and options kept): what may be
    printed or logged of a database or mail URL."""
    value = url.get_secret_value() if isinstance(url, SecretStr) else url
    parts = urlsplit(value)
    if parts.password is None:
        return value
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


@lru_cache
def get_settings() -> Settings:
    """The one way in. Tests build ``Settings(...)`` directly and pass it down."""
    return Settings()

"""Settings: secrets are never shown, the database URL gets its async driver."""

from __future__ import annotations

import pytest

from nurture.settings import Settings, masked_url

SECRETS = {
    "database_url": "postgresql://nurture:db-pass-1@db.internal/nurture",
    "mail_url": "smtp+starttls://mailer:smtp-pass-2@mail.internal:587?pool=4",
    "secret_key": "link-key-3",
    "api_key": "crm-key-4",
}


def test_secrets_appear_in_no_repr_str_or_dump():
    settings = Settings(**SECRETS)
    shown = [repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())]
    for secret in ("db-pass-1", "smtp-pass-2", "link-key-3", "crm-key-4"):
        assert not [s for s in shown if secret in s], secret
    assert settings.mail_url.get_secret_value() == SECRETS["mail_url"]
    assert settings.api_key.get_secret_value() == "crm-key-4"
    assert settings.resolved_secret_key() == "link-key-3"


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_the_database_url_gets_the_async_driver(given, used):
    assert Settings(database_url=given).database_url.get_secret_value() == used


def test_masked_url_hides_only_the_password():
    settings = Settings(**SECRETS)
    assert masked_url(settings.database_url) == (
        "postgresql+asyncpg://nurture:***@db.internal/nurture"
    )
    assert masked_url(settings.mail_url) == "smtp+starttls://mailer:***@mail.internal:587?pool=4"
    assert masked_url("smtp://127.0.0.1:25") == "smtp://127.0.0.1:25"
    assert masked_url("sqlite+aiosqlite:///var/nurture.db") == "sqlite+aiosqlite:///var/nurture.db"


def test_the_signing_key_is_made_once_when_unset(tmp_path):
    first = Settings(var_dir=tmp_path).resolved_secret_key()
    assert len(first) > 30 and Settings(var_dir=tmp_path).resolved_secret_key() == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600

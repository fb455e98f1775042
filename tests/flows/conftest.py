"""Flow tests share one temporary Prefect API (starting it is the slow part)."""

from __future__ import annotations

import pytest
from prefect.testing.utilities import prefect_test_harness
from pydantic import SecretStr

from nurture.settings import get_settings


@pytest.fixture(scope="session")
def prefect_api():
    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def flow_settings(settings, smtp, monkeypatch, prefect_api):
    monkeypatch.setenv("NURTURE_DATABASE_URL", settings.database_url.get_secret_value())
    monkeypatch.setenv("NURTURE_MAIL_URL", smtp.url)
    monkeypatch.setenv("NURTURE_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("NURTURE_CONFIG_DIR", str(settings.config_dir))
    monkeypatch.setenv("NURTURE_TEMPLATES_DIR", str(settings.templates_dir))
    monkeypatch.setenv("NURTURE_DISPATCH_BATCH_SIZE", "20")
    get_settings.cache_clear()
    yield settings.model_copy(update={"mail_url": SecretStr(smtp.url)})
    get_settings.cache_clear()

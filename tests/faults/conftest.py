"""Fault suite helpers: dispatchers as real subprocesses (`nurture tick`)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest
from pydantic import SecretStr

from nurture.settings import Settings


def dispatcher_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "NURTURE_DATABASE_URL": settings.database_url.get_secret_value(),
        "NURTURE_MAIL_URL": settings.mail_url.get_secret_value(),
        "NURTURE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "NURTURE_CONFIG_DIR": str(settings.config_dir),
        "NURTURE_TEMPLATES_DIR": str(settings.templates_dir),
        "NURTURE_VAR_DIR": str(settings.var_dir),
        "NURTURE_BASE_URL": settings.base_url,
        "PREFECT_API_URL": "",
    }
    env.update(extra)
    return env


def start_dispatcher(settings: Settings, now: datetime, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nurture", "tick", "--no-prefect", "--now", now.isoformat()],
        env=dispatcher_env(settings, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def smtp_settings(settings, smtp):
    return settings.model_copy(update={"mail_url": SecretStr(smtp.url.replace("pool=4", "pool=8"))})

"""The `nurture` command as a user runs it: a subprocess, with the settings in its environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def nurture(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nurture", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PREFECT_API_URL": "", **(env or {})},
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture
def cli_env(settings, smtp) -> dict[str, str]:
    return {
        "NURTURE_DATABASE_URL": settings.database_url.get_secret_value(),
        "NURTURE_MAIL_URL": smtp.url,
        "NURTURE_CONFIG_DIR": str(settings.config_dir),
        "NURTURE_TEMPLATES_DIR": str(settings.templates_dir),
        "NURTURE_SECRET_KEY": settings.secret_key.get_secret_value(),
        "NURTURE_VAR_DIR": str(settings.var_dir),
    }

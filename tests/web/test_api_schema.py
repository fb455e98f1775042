"""Schemathesis over the HTTP API's OpenAPI schema: whatever the schema allows, no 5xx."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from nurture import migrate
from nurture.app import create_app
from nurture.db import dispose_engines
from nurture.settings import Settings
from tests.conftest import CONTENT

# Schemathesis collects one test per operation, so the app (and its database) exist at import.
_folder = Path(tempfile.mkdtemp(prefix="nurture-api-"))
_settings = Settings(
    database_url=f"sqlite+aiosqlite:///{_folder / 'api.db'}",
    mail_url="memory://schemathesis",
    secret_key="k",
    var_dir=_folder / "var",
    config_dir=CONTENT / "config",
    templates_dir=CONTENT / "templates",
)


async def _migrate() -> None:
    await migrate.upgrade(_settings.database_url.get_secret_value())
    await dispose_engines()


asyncio.run(_migrate())
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(_settings))


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])

"""Schemathesis over the HTTP API's OpenAPI schema: whatever the schema allows, no 5xx."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from nurture.app import create_app
from nurture.db import dispose_engines
from nurture.settings import Settings
from tests.conftest import CONTENT

API_KEY = "schema-test-key"


def app_on(database: Path) -> FastAPI:
    return create_app(
        Settings(
            database_url=f"sqlite+aiosqlite:///{database}",
            mail_url="memory://schemathesis",
            secret_key="k",
            api_key=API_KEY,
            var_dir=database.parent / "var",
            config_dir=CONTENT / "config",
            templates_dir=CONTENT / "templates",
        )
    )


# Schemathesis collects one test per operation, so the schema is read at import: from an app
# that is never called and so never opens its database (nothing is created at import).
schema = schemathesis.openapi.from_asgi("/openapi.json", app_on(Path("/nonexistent/api.db")))


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[FastAPI]:
    """The app the cases call, on a copy of the migrated database; removed afterwards."""
    folder = tmp_path_factory.mktemp("api")
    shutil.copy(sqlite_template, folder / "api.db")
    yield app_on(folder / "api.db")
    asyncio.run(dispose_engines())
    shutil.rmtree(folder)


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_causes_a_server_error(case, api_app):
    # With the key, CRM calls get past the bearer check to the database (lead lookups).
    auth = {"authorization": f"Bearer {API_KEY}"}
    case.call_and_validate(app=api_app, headers=auth, checks=[not_a_server_error])

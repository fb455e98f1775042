"""The committed JSON Schemas (docs/schemas/) are what the report models generate."""

from __future__ import annotations

import json

import jsonschema
import pytest

from nurture.reporting.schemas import SCHEMAS, file_name, schema, schema_json, write
from tests.conftest import ROOT

COMMITTED = ROOT / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_committed_schema_is_what_the_model_generates(name):
    committed = (COMMITTED / file_name(name)).read_text(encoding="utf-8")
    assert committed == schema_json(name), (
        f"docs/schemas/{file_name(name)} is stale: python -m nurture.reporting.schemas"
    )


def test_every_committed_schema_has_a_model():
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(map(file_name, SCHEMAS))


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_schema_is_valid_json_schema(name):
    jsonschema.Draft202012Validator.check_schema(schema(name))
    assert json.loads(schema_json(name))["$schema"].endswith("/draft/2020-12/schema")


def test_the_schemas_are_written_where_asked(tmp_path):
    paths = write(tmp_path / "schemas")
    assert [p.read_text(encoding="utf-8") for p in paths] == [schema_json(n) for n in SCHEMAS]

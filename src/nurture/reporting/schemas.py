"""The JSON Schemas of the reports' JSON, generated from their models: printed by
``nurture report --schema`` and ``nurture leads show --schema``, committed under
docs/schemas/ (a test fails when the files and the models differ). Regenerate the files with
``python -m nurture.reporting.schemas docs/schemas``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nurture import schemafiles
from nurture.reporting.funnel_models import FunnelReport
from nurture.reporting.lead_models import LeadProfile

DRAFT = schemafiles.DRAFT
SCHEMAS: dict[str, type[BaseModel]] = {"funnel-report": FunnelReport, "lead-profile": LeadProfile}


def schema(name: str) -> dict[str, Any]:
    """The schema of the JSON that ``model_dump(mode="json")`` writes (the serialisation
    side: what a consumer of the file reads)."""
    return {"$schema": DRAFT, **SCHEMAS[name].model_json_schema(mode="serialization")}


def schema_json(name: str) -> str:
    return schemafiles.dumps(schema(name))


file_name = schemafiles.file_name


def write(directory: Path) -> list[Path]:
    return schemafiles.write(directory, SCHEMAS, schema)


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(f"wrote {path}")

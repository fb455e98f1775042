"""The JSON Schemas of the reports' JSON, generated from their models: printed by
``nurture report --schema`` and ``nurture leads show --schema``, committed under
docs/schemas/ (a test fails when the files and the models differ). Regenerate the files with
``python -m nurture.reporting.schemas docs/schemas``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nurture.reporting.funnel_models import FunnelReport
from nurture.reporting.lead_models import LeadProfile

DRAFT = "https://json-schema.org/draft/2020-12/schema"  # what pydantic generates
SCHEMAS: dict[str, type[BaseModel]] = {"funnel-report": FunnelReport, "lead-profile": LeadProfile}


def schema(name: str) -> dict[str, Any]:
    """The schema of the JSON that ``model_dump(mode="json")`` writes (the serialisation
    side: what a consumer of the file reads)."""
    return {"$schema": DRAFT, **SCHEMAS[name].model_json_schema(mode="serialization")}


def schema_json(name: str) -> str:
    return json.dumps(schema(name), indent=2, ensure_ascii=False) + "\n"


def file_name(name: str) -> str:
    return f"{name}.schema.json"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = directory / file_name(name)
        path.write_text(schema_json(name), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")):
        print(f"wrote {path}")

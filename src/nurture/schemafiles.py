"""The JSON Schema files nurture commits (docs/schemas/): how one is spelt and how a set of
them is written, the same for the reports' schemas and the config files' schemas."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"  # what pydantic generates


def dumps(schema: dict[str, Any]) -> str:
    """A schema as committed: indented, UTF-8 as it is, one trailing newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def file_name(name: str) -> str:
    return f"{name}.schema.json"


def write(
    directory: Path, names: Iterable[str], schema: Callable[[str], dict[str, Any]]
) -> list[Path]:
    """Write ``schema(name)`` for each name into ``directory``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        path = directory / file_name(name)
        path.write_text(dumps(schema(name)), encoding="utf-8")
        written.append(path)
    return written

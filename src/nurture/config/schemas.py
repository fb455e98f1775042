"""The JSON Schemas of the config files, generated from their models, for editors: written by
``nurture schema --out DIR`` and committed under docs/schemas/config/ (a test fails when the
files and the models differ). Each shipped config file names its schema in its first line
(``MODELINE``), so VS Code's YAML extension (yaml-language-server) completes and checks keys
as the marketer types. The schemas describe what a file may contain; what only the whole
project can tell (a form that names a missing sequence) stays ``nurture config check``'s.
Regenerate the files with ``python -m nurture.config.schemas docs/schemas/config``."""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from nurture import schemafiles
from nurture.config.forms import FormConfig
from nurture.config.policy import PolicyConfig
from nurture.config.sales import SalesConfig
from nurture.config.schema_types import CLOCK_SCHEMA
from nurture.config.scoring import ScoringConfig
from nurture.config.sequences import Delay, SequenceConfig
from nurture.config.signals import SignalsConfig
from nurture.config.sources import SourcesConfig

DRAFT = schemafiles.DRAFT
MODELINE = "# yaml-language-server: $schema="


@dataclass(frozen=True)
class Kind:
    model: type[BaseModel]
    title: str
    description: str


KINDS: dict[str, Kind] = {
    "sequence": Kind(
        SequenceConfig,
        "nurture sequence",
        "A drip: its trigger, sender, send window and steps. config/sequences/<id>.yaml; "
        "see docs/config.md.",
    ),
    "form": Kind(
        FormConfig,
        "nurture form",
        "A capture form, its landing page and the sequences it enrols into. "
        "config/forms/<id>.yaml; see docs/config.md.",
    ),
    "scoring": Kind(
        ScoringConfig,
        "nurture scoring",
        "Lead scoring: fit and engagement rules, the MQL threshold. config/scoring.yaml; "
        "see docs/config.md.",
    ),
    "sales": Kind(
        SalesConfig,
        "nurture sales hand-off",
        "Who gets which MQL and what happens when nobody answers. config/sales.yaml; "
        "see docs/config.md.",
    ),
    "sources": Kind(
        SourcesConfig,
        "nurture lead source costs",
        "What each lead source cost, for the report. config/sources.yaml; see docs/config.md.",
    ),
    "signals": Kind(
        SignalsConfig,
        "nurture signals",
        "Human or machine engagement, bounces, the website's anonymous page views. "
        "config/signals.yaml; see docs/signals.md.",
    ),
    "policy": Kind(
        PolicyConfig,
        "nurture contact policy",
        "How much marketing mail one lead gets across sequences, and the quiet days. "
        "config/policy.yaml; see docs/config.md.",
    ),
}
# The folders whose every file is one of a kind; any other kind is config/<kind>.yaml.
FOLDERS = {"sequences": "sequence", "forms": "form"}


def _as_written(value: Any) -> Any:
    """A default as a marketer writes it in YAML (what the schema's patterns accept)."""
    if isinstance(value, BaseModel):
        return _as_written(value.model_dump(by_alias=True, exclude_none=True))
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_written(v) for v in value]
    if isinstance(value, Delay):
        return str(value)
    if isinstance(value, timedelta):
        return f"{value.days}d"
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return value


class ConfigSchemaGenerator(GenerateJsonSchema):
    def encode_default(self, dft: Any) -> Any:
        # pydantic writes a timedelta default as P14D and a Delay as an object.
        return super().encode_default(_as_written(dft))

    def time_schema(self, schema: core_schema.TimeSchema) -> dict[str, Any]:
        # Any time of day in config is "08:30"; RFC 3339's (format: time) needs seconds and
        # an offset, so the editor would flag every time a marketer writes.
        return dict(CLOCK_SCHEMA)


def schema(kind: str) -> dict[str, Any]:
    """What a config file of ``kind`` may contain (the validation side: what is read)."""
    spec = KINDS[kind]
    generated = spec.model.model_json_schema(
        mode="validation", schema_generator=ConfigSchemaGenerator
    )
    generated.pop("title")  # the class name; ours says what the file is
    generated.pop("description", None)
    return {"$schema": DRAFT, "title": spec.title, "description": spec.description, **generated}


def schema_json(kind: str) -> str:
    return schemafiles.dumps(schema(kind))


file_name = schemafiles.file_name


def write(directory: Path) -> list[Path]:
    return schemafiles.write(directory, KINDS, schema)


def kind_of(path: Path) -> str | None:
    """The kind of a config file by where it lies: sequences/<id>.yaml, forms/<id>.yaml or
    <kind>.yaml in the config folder; None for anything else."""
    if path.parent.name in FOLDERS:
        return FOLDERS[path.parent.name]
    single = path.stem in KINDS and path.stem not in FOLDERS.values()
    return path.stem if single else None


def place(config_dir: Path, kind: str) -> Path:
    """Where a file of ``kind`` lies in ``config_dir`` (``<id>`` for the folders' files)."""
    folder = next((f for f, k in FOLDERS.items() if k == kind), None)
    return config_dir / folder / "<id>.yaml" if folder else config_dir / f"{kind}.yaml"


def modeline(config_file: Path, schemas_dir: Path) -> str:
    """The first line that ties ``config_file`` to its schema in ``schemas_dir``, by a path
    relative to the file (how yaml-language-server resolves it)."""
    kind = kind_of(config_file)
    if kind is None:
        raise ValueError(f"{config_file} is not a config file of a known kind")
    target = os.path.relpath(schemas_dir / file_name(kind), config_file.parent)
    return MODELINE + Path(target).as_posix()


def config_files(config_dir: Path) -> dict[Path, str]:
    """The files of a project (what ``load_project`` reads) and the kind of each."""
    found = list(config_dir.glob("*.y*ml"))
    for folder in FOLDERS:
        found += (config_dir / folder).glob("*.y*ml")
    kinds = {path: kind_of(path) for path in sorted(found) if path.suffix in (".yaml", ".yml")}
    return {path: kind for path, kind in kinds.items() if kind}


def _target(path: Path) -> Path | None:
    with path.open(encoding="utf-8") as file:
        first = file.readline().strip()
    if not first.startswith(MODELINE):
        return None
    return (path.parent / first.removeprefix(MODELINE)).resolve()


def missing_modelines(config_dir: Path) -> list[str]:
    """For a project whose files name their schemas: each file that names none, or not its
    own kind's (a form copied into sequences/), with the line it should start with. A
    project without schema lines, or whose schemas are not there, gets no notes."""
    files = config_files(config_dir)
    targets = {path: _target(path) for path in files}
    folders = Counter(t.parent for t in targets.values() if t is not None)
    if not folders:
        return []
    schemas_dir = folders.most_common(1)[0][0]
    if not schemas_dir.is_dir():
        return []
    notes = []
    for path, kind in files.items():
        if targets[path] != (schemas_dir / file_name(kind)).resolve():
            notes.append(f"{path}: start it with {modeline(path, schemas_dir)}")
    return notes


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas/config")):
        print(f"wrote {path}")

"""The config files' JSON Schemas (docs/schemas/config/): what the models generate, named in
the first line of every shipped config file, accepting those files, and agreeing with the
models on what they accept, so an editor neither lets a mistake through nor flags a file
that nurture reads fine."""

from __future__ import annotations

import copy
import json
import re
import shutil
import zoneinfo
from datetime import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel, ValidationError

from nurture.config.sales import SalesConfig
from nurture.config.schemas import (
    KINDS,
    MODELINE,
    ConfigSchemaGenerator,
    config_files,
    file_name,
    kind_of,
    missing_modelines,
    modeline,
    schema,
    schema_json,
    write,
)
from nurture.config.sequences import SequenceConfig, StrictModel
from tests.conftest import CONTENT, ROOT

COMMITTED = ROOT / "docs" / "schemas" / "config"
# The shipped configs and the fixture project's: every file of them names its schema.
CONFIG_DIRS = [ROOT / "config", CONTENT / "config"]
CONFIG_FILES = sorted(
    path
    for folder in CONFIG_DIRS
    for pattern in ("*.yaml", "*.yml", "*/*.yaml", "*/*.yml")
    for path in folder.glob(pattern)
)
SEQUENCE = CONTENT / "config" / "sequences" / "b2b-nurture.yaml"


def editor_data(path: Path) -> Any:
    """The file as the editor sees it: YAML 1.2 reads 2027-12-24 as text, not a date."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text(encoding="utf-8")), default=str))


def validator(kind: str) -> jsonschema.Draft202012Validator:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER  # email, date
    return jsonschema.Draft202012Validator(schema(kind), format_checker=checker)


def schema_errors(kind: str, data: Any) -> list[str]:
    return [error.message for error in validator(kind).iter_errors(data)]


def model_accepts(model: type[BaseModel], data: Any) -> bool:
    try:
        model.model_validate(data)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_committed_schema_is_what_the_model_generates(kind):
    committed = (COMMITTED / file_name(kind)).read_text(encoding="utf-8")
    assert committed == schema_json(kind), (
        f"docs/schemas/config/{file_name(kind)} is stale: nurture schema --out docs/schemas/config"
    )


def test_every_committed_schema_has_a_kind():
    assert sorted(p.name for p in COMMITTED.glob("*.json")) == sorted(map(file_name, KINDS))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_schema_is_draft_2020_12_with_a_title_and_a_description(kind):
    jsonschema.Draft202012Validator.check_schema(schema(kind))
    made = json.loads(schema_json(kind))
    assert made["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert made["title"].startswith("nurture ") and f"{kind}" in made["description"]


def objects(root: dict[str, Any]) -> list[dict[str, Any]]:
    """The models: the top one and every one in $defs (pydantic puts each there)."""
    return [m for m in [root, *root.get("$defs", {}).values()] if "properties" in m]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_model_in_a_schema_forbids_unknown_keys(kind):
    models = objects(schema(kind))
    assert models and all(m.get("additionalProperties") is False for m in models)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_default_is_written_as_the_schema_accepts_it(kind):
    # pydantic would write a timedelta default as P14D and a Delay as an object
    root = schema(kind)
    for model in objects(root):
        for name, prop in model["properties"].items():
            if "default" in prop:
                own = {**prop, "$defs": root.get("$defs", {})}
                errors = [
                    e.message
                    for e in jsonschema.Draft202012Validator(own).iter_errors(prop["default"])
                ]
                assert not errors, (name, prop["default"], errors)


def test_the_schemas_are_written_where_asked(tmp_path):
    paths = write(tmp_path / "schemas")
    assert [p.name for p in paths] == [file_name(k) for k in KINDS]
    assert [p.read_text(encoding="utf-8") for p in paths] == [schema_json(k) for k in KINDS]


def test_there_are_config_files_of_every_kind_to_check():
    assert {kind_of(path) for path in CONFIG_FILES} == set(KINDS)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_names_its_schema_and_is_valid_by_it(path):
    kind = kind_of(path)
    assert kind, f"{path.name}: no schema for this file; add its kind to nurture.config.schemas"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == modeline(path, COMMITTED), f"start {path} with: {modeline(path, COMMITTED)}"
    target = (path.parent / first.removeprefix(MODELINE)).resolve()
    assert target == (COMMITTED / file_name(kind)).resolve() and target.is_file()
    assert schema_errors(kind, editor_data(path)) == []


def sequence(**step_changes: Any) -> dict[str, Any]:
    data = editor_data(SEQUENCE)
    data["steps"][0].update(step_changes)
    return data


def test_an_unknown_key_fails_the_schema_as_it_fails_the_model():
    typo = sequence(delai="2d")
    assert any("'delai' was unexpected" in m for m in schema_errors("sequence", typo))
    assert not model_accepts(SequenceConfig, typo)
    top = {**editor_data(SEQUENCE), "send_windw": {}}
    assert any("'send_windw' was unexpected" in m for m in schema_errors("sequence", top))
    nested = editor_data(SEQUENCE)
    nested["trigger"] = {"forms": ["leitfaden"], "stages": "customer"}
    assert schema_errors("sequence", nested) and not model_accepts(SequenceConfig, nested)
    form = editor_data(CONTENT / "config" / "forms" / "leitfaden.yaml")
    form["fields"][0]["requried"] = True
    assert any("'requried' was unexpected" in m for m in schema_errors("form", form))


def test_a_wrong_type_fails_the_schema_where_it_can_know():
    assert schema_errors("sequence", sequence(delay="soon"))
    assert not model_accepts(SequenceConfig, sequence(delay="soon"))
    window = editor_data(SEQUENCE)
    window["send_window"]["start"] = 540  # what YAML makes of an unquoted 9:00
    assert schema_errors("sequence", window) and not model_accepts(SequenceConfig, window)
    window["send_window"]["weekdays"] = ["monday"]
    assert any("'monday' is not one of" in m for m in schema_errors("sequence", window))
    scoring = editor_data(CONTENT / "config" / "scoring.yaml")
    scoring["mql_threshold"] = "fifty"
    assert any("is not of type 'integer'" in m for m in schema_errors("scoring", scoring))


def agree(data: dict[str, Any]) -> tuple[bool, bool]:
    """(the schema accepts, the model accepts)."""
    return not schema_errors("sequence", data), model_accepts(SequenceConfig, data)


DELAYS = [
    0,
    3,
    "0",
    "2d",
    "2 D",
    "12h",
    "30 min",
    "1w",
    "2 weeks",
    "3 business days",
    "3 Business  Days",
    "2bd",
    " 5 ",
    "soon",
    "-1",
    -1,
    "1.5d",
    True,
    "2 business",
    "d",
]
PERIODS = ["60d", "12w", "90 days", "+5d", 30, 0, "-30d", -5, "60", "2m", "soon", True, "1 W"]
OFFSETS = ["-30d", "0d", "+14d", -30, "-2w", "30h", "x", "- 3 days"]
REENTERS = ["never", None, "180d", 90, "Never", "sometimes", -3, "26w"]
TIMES = ["08:30", "23:59", "08:30:15", "00:00", "8:30", "24:00", "0830", "08:60", 540, ""]
EVENTS = [
    "click",
    "deal_recorded",
    "custom.webinar_registered",
    "clik",
    "custom.Bad",
    "custom.",
    "custom.a" + "b" * 24,
    "custom.a" + "b" * 25,
    "Click",
]
STAGES = ["customer", "mql", "recycled", "kunde", "Customer", ""]


@pytest.mark.parametrize("value", DELAYS)
def test_schema_and_model_agree_on_delays(value):
    accepts_schema, accepts_model = agree(sequence(delay=value))
    assert accepts_schema == accepts_model, value


@pytest.mark.parametrize("value", PERIODS)
def test_schema_and_model_agree_on_periods(value):
    accepts_schema, accepts_model = agree(
        {**editor_data(SEQUENCE), "trigger": {"inactive_for": value}}
    )
    assert accepts_schema == accepts_model, value


@pytest.mark.parametrize("value", OFFSETS)
def test_schema_and_model_agree_on_signed_offsets(value):
    data = {**editor_data(SEQUENCE), "trigger": {"date_field": "custom.renewal", "offset": value}}
    accepts_schema, accepts_model = agree(data)
    assert accepts_schema == accepts_model, value


@pytest.mark.parametrize("value", REENTERS)
def test_schema_and_model_agree_on_reenter(value):
    accepts_schema, accepts_model = agree({**editor_data(SEQUENCE), "reenter": value})
    assert accepts_schema == accepts_model, value


@pytest.mark.parametrize("value", TIMES)
def test_schema_and_model_agree_on_times_of_day(value):
    data = copy.deepcopy(editor_data(SEQUENCE))
    data["send_window"].update(start=value, end="23:59:59")
    accepts_schema, accepts_model = agree(data)
    assert accepts_schema == accepts_model, value


@pytest.mark.parametrize("value", EVENTS)
def test_schema_and_model_agree_on_event_names(value):
    data = {**editor_data(SEQUENCE), "goals": [{"event": value}]}
    accepts_schema, accepts_model = agree(data)
    assert accepts_schema == accepts_model, value


@pytest.mark.parametrize("value", STAGES)
def test_schema_and_model_agree_on_stages(value):
    trigger = agree({**editor_data(SEQUENCE), "trigger": {"stage": value}})
    assert trigger[0] == trigger[1], value
    goal = agree({**editor_data(SEQUENCE), "goals": [{"stage": value}]})
    assert goal[0] == goal[1], value


def test_no_timezone_nurture_knows_is_flagged_by_the_pattern():
    # The pattern cannot know the tz database (Europe/Berln passes it; config check says no),
    # but it must never flag a real one.
    pattern = schema("sequence")["$defs"]["SendWindow"]["properties"]["timezone"]["pattern"]
    zones = zoneinfo.available_timezones()
    assert zones and [z for z in zones if not re.search(pattern, z)] == []


def test_the_kind_of_a_file_is_where_it_lies(tmp_path):
    assert kind_of(tmp_path / "config" / "sequences" / "x.yaml") == "sequence"
    assert kind_of(tmp_path / "config" / "forms" / "x.yaml") == "form"
    assert kind_of(tmp_path / "config" / "policy.yaml") == "policy"
    assert kind_of(tmp_path / "config" / "sequence.yaml") is None
    assert kind_of(tmp_path / "config" / "notes.yaml") is None
    with pytest.raises(ValueError):
        modeline(tmp_path / "config" / "notes.yaml", COMMITTED)


def test_any_time_of_day_in_a_config_model_reads_as_written():
    class Later(StrictModel):  # a time field without the ClockTime annotation
        at: time = time(8, 30)

    prop = Later.model_json_schema(schema_generator=ConfigSchemaGenerator)["properties"]["at"]
    assert prop["default"] == "08:30" and re.search(prop["pattern"], "08:30")
    assert "format" not in prop


@pytest.mark.parametrize("value", ["4h", "1d", 2, "90 min", "2 business days", "2bd", "soon"])
def test_schema_and_model_agree_on_calendar_delays(value):
    data = editor_data(CONTENT / "config" / "sales.yaml")
    data["sla"] = {"remind_after": value, "reassign_after": "30d"}
    assert (not schema_errors("sales", data)) == model_accepts(SalesConfig, data), value


def project_copy(tmp_path: Path) -> Path:
    """The fixture's config beside a copy of the schemas, as a project of one's own has it."""
    shutil.copytree(CONTENT / "config", tmp_path / "config")
    write(tmp_path / "schemas")
    for path in config_files(tmp_path / "config"):
        text = path.read_text(encoding="utf-8").split("\n", 1)[1]
        path.write_text(modeline(path, tmp_path / "schemas") + "\n" + text, encoding="utf-8")
    return tmp_path / "config"


def test_config_files_without_their_schema_line_get_a_note(tmp_path):
    config = project_copy(tmp_path)
    assert missing_modelines(config) == []
    new = config / "sequences" / "onboarding.yaml"  # written from scratch: no line
    new.write_text(SEQUENCE.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    copied = config / "sequences" / "from-a-form.yaml"  # a form's line in a sequence
    shutil.copy(config / "forms" / "leitfaden.yaml", copied)
    line = "# yaml-language-server: $schema=../../schemas/sequence.schema.json"
    assert missing_modelines(config) == [
        f"{copied}: start it with {line}",
        f"{new}: start it with {line}",
    ]


def test_a_project_without_schema_lines_or_schemas_gets_no_notes(tmp_path):
    config = project_copy(tmp_path)
    shutil.rmtree(tmp_path / "schemas")  # the lines point nowhere: nothing to tie files to
    assert missing_modelines(config) == []
    for path in config_files(config):
        path.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    assert missing_modelines(config) == []
    (config / "old").mkdir()  # not a folder nurture reads
    (config / "old" / "policy.yaml").write_text("cap: {max: 2}\n", encoding="utf-8")
    assert all(path.parent.name != "old" for path in config_files(config))

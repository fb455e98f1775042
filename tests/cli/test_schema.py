"""`nurture schema`."""

from __future__ import annotations

from nurture.config.schemas import KINDS, file_name, schema_json
from tests.cli.conftest import nurture
from tests.conftest import CONTENT


def test_schema_writes_one_schema_per_kind_and_the_line_for_each_file(tmp_path):
    out = tmp_path / "editor" / "schemas"
    config = tmp_path / "project" / "config"
    made = nurture("schema", "--out", str(out), env={"NURTURE_CONFIG_DIR": str(config)})
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(map(file_name, KINDS))
    assert all((out / file_name(k)).read_text(encoding="utf-8") == schema_json(k) for k in KINDS)
    # from project/config/sequences/ three up to tmp_path, then into editor/schemas
    line = "# yaml-language-server: $schema=../../../editor/schemas/sequence.schema.json"
    assert line in made.stdout
    assert "# yaml-language-server: $schema=../../editor/schemas/policy.schema.json" in made.stdout


def test_schema_needs_a_folder():
    made = nurture("schema", env={"NURTURE_CONFIG_DIR": str(CONTENT / "config")})
    assert made.returncode == 2 and "--out" in made.stderr

"""`nurture config check`."""

from __future__ import annotations

import shutil

from tests.cli.conftest import nurture
from tests.config.test_schemas import project_copy
from tests.conftest import CONTENT


def test_config_check_passes_on_the_shipped_example():
    result = nurture("config", "check", cwd=CONTENT)
    assert result.returncode == 0, result.stderr
    assert "1 form(s), 2 sequence(s), 13 email(s) render" in result.stdout
    assert "scoring: 10 rule(s), MQL at 50; sales: 2 territory(ies)" in result.stdout


def test_config_check_names_file_and_line_of_a_template_error(tmp_path):
    shutil.copytree(CONTENT / "config", tmp_path / "config")
    shutil.copytree(CONTENT / "templates", tmp_path / "templates")
    broken = tmp_path / "templates/email/b2b-nurture/03_case_study.txt.j2"
    lines = broken.read_text(encoding="utf-8").splitlines()
    lines[3] = "Hallo {{ lead.frist_name }}"
    broken.write_text("\n".join(lines), encoding="utf-8")
    result = nurture("config", "check", cwd=tmp_path)
    assert result.returncode == 1
    assert "03_case_study.txt.j2:4: step case-study:" in result.stderr
    assert "frist_name" in result.stderr


def test_config_check_notes_a_file_without_its_schema_line(tmp_path):
    project_copy(tmp_path)  # the config with its lines, the schemas in schemas/
    shutil.copytree(CONTENT / "templates", tmp_path / "templates")
    sequence = tmp_path / "config" / "sequences" / "b2b-nurture.yaml"
    sequence.write_text(sequence.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    result = nurture("config", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # a note, not an error
    line = "# yaml-language-server: $schema=../../schemas/sequence.schema.json"
    assert f"note: config/sequences/b2b-nurture.yaml: start it with {line}" in result.stdout
    assert result.stdout.count("note:") == 1

"""Config errors name the file, the line and the field."""

from pathlib import Path

import pytest

from nurture.config.project import load_project
from nurture.config.yamlfile import ConfigError
from tests.conftest import CONTENT

CONFIG = CONTENT / "config"
SEQ = (CONFIG / "sequences/b2b-nurture.yaml").read_text(encoding="utf-8")
FORM = (CONFIG / "forms/leitfaden.yaml").read_text(encoding="utf-8")


def project_with(tmp_path: Path, sequence: str = SEQ, form: str = FORM) -> Path:
    (tmp_path / "sequences").mkdir()
    (tmp_path / "forms").mkdir()
    (tmp_path / "sequences/b2b-nurture.yaml").write_text(sequence, encoding="utf-8")
    (tmp_path / "forms/leitfaden.yaml").write_text(form, encoding="utf-8")
    return tmp_path


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_test_project_loads_with_its_form_feeding_its_sequence():
    project = load_project(CONFIG)
    assert [s.id for s in project.sequences["b2b-nurture"].steps] == [
        "welcome",
        "problem",
        "case-study",
        "comparison",
        "objections",
        "demo",
        "breakup",
    ]
    assert project.sequences_for_form("leitfaden")[0].id == "b2b-nurture"


def test_bad_delay_names_file_line_and_field(tmp_path):
    broken = SEQ.replace('delay: "2 business days"', 'delay: "zwei Tage"', 1)
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, sequence=broken))
    [problem] = info.value.problems
    assert problem.file.name == "b2b-nurture.yaml"
    assert problem.line == line_of(broken, "zwei Tage")
    assert problem.field == "steps.1.delay"
    assert "cannot read delay" in problem.message
    assert str(problem).startswith(f"{problem.file}:{problem.line}: steps.1.delay: ")


def test_unknown_field_is_reported_with_its_line(tmp_path):
    broken = SEQ.replace("send_window:", "send_windw:", 1)
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, sequence=broken))
    fields = {p.field: p for p in info.value.problems}
    assert fields["send_windw"].line == line_of(broken, "send_windw:")
    assert "unknown field" in fields["send_windw"].message


def test_every_problem_is_reported_at_once(tmp_path):
    seq = SEQ.replace('timezone: "Europe/Berlin"', 'timezone: "Europe/Berln"', 1)
    form = FORM.replace("double_opt_in: true", "double_opt_in: vielleicht", 1)
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, sequence=seq, form=form))
    by_field = {p.field: p for p in info.value.problems}
    assert by_field["send_window.timezone"].line == line_of(seq, "Europe/Berln")
    assert by_field["double_opt_in"].file.name == "leitfaden.yaml"


def test_yaml_syntax_error_has_a_line(tmp_path):
    broken = SEQ + "\nsteps: [unclosed\n"
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, sequence=broken))
    assert info.value.problems[0].line is not None
    assert "invalid YAML" in info.value.problems[0].message


def test_form_pointing_to_missing_sequence(tmp_path):
    form = FORM.replace("sequences: [b2b-nurture]", "sequences: [gibt-es-nicht]", 1)
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, form=form))
    [problem] = [p for p in info.value.problems if "gibt-es-nicht" in p.message]
    assert problem.line == line_of(form, "gibt-es-nicht")


SCORING = (CONFIG / "scoring.yaml").read_text(encoding="utf-8")
SALES = (CONFIG / "sales.yaml").read_text(encoding="utf-8")


def with_scoring_and_sales(tmp_path: Path, scoring: str = SCORING, sales: str = SALES) -> Path:
    folder = project_with(tmp_path)
    recycle = (CONFIG / "sequences/b2b-recycle.yaml").read_text(encoding="utf-8")
    (folder / "sequences/b2b-recycle.yaml").write_text(recycle, encoding="utf-8")
    (folder / "scoring.yaml").write_text(scoring, encoding="utf-8")
    (folder / "sales.yaml").write_text(sales, encoding="utf-8")
    return folder


def test_scoring_and_sales_errors_name_file_line_and_field(tmp_path):
    scoring = SCORING.replace("    cap: 32", "    cap: -1", 1)
    sales = SALES.replace("remind_after: 4h", "remind_after: 3 business days", 1)
    with pytest.raises(ConfigError) as info:
        load_project(with_scoring_and_sales(tmp_path, scoring, sales))
    problems = {p.file.name: p for p in info.value.problems}
    assert problems["scoring.yaml"].line == line_of(scoring, "cap: -1")
    assert problems["scoring.yaml"].field == "engagement.2.cap"
    assert problems["sales.yaml"].line == line_of(sales, "remind_after")
    assert "business days" in problems["sales.yaml"].message


def test_condition_syntax_and_unknown_recycle_sequence_are_config_errors(tmp_path):
    broken = SEQ.replace('condition: "not clicked()"', 'condition: "not clicked("', 1)
    sales = SALES.replace("recycle_sequence: b2b-recycle", "recycle_sequence: nope", 1)
    folder = with_scoring_and_sales(tmp_path, sales=sales)
    (folder / "sequences/b2b-nurture.yaml").write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_project(folder)
    messages = {(p.file.name, p.line): p.message for p in info.value.problems}
    assert "not a valid expression" in messages[("b2b-nurture.yaml", line_of(broken, "clicked("))]
    assert "no sequence 'nope'" in messages[("sales.yaml", line_of(sales, "recycle_sequence"))]


def test_a_stage_trigger_its_own_goal_ends_or_that_can_never_fire(tmp_path):
    customers = SEQ.replace("  forms: [leitfaden]", "  forms: [leitfaden]\n  stage: customer")
    never = SEQ.replace("  forms: [leitfaden]", "  stage: subscriber")
    for text, field, needle, message in [
        (customers, "goals.0.stage", "stage: mql", "ends the sequence its trigger"),
        (never, "trigger.stage", "stage: subscriber", "every lead starts as subscriber"),
    ]:
        (tmp_path / field).mkdir()
        with pytest.raises(ConfigError) as info:
            load_project(project_with(tmp_path / field, sequence=text))
        [problem] = info.value.problems
        assert (problem.field, problem.line) == (field, line_of(text, needle))
        assert message in problem.message


def test_an_unquoted_time_is_an_error_not_minutes_after_midnight(tmp_path):
    # YAML reads 10:30 unquoted as 630 (base 60); taken as seconds it would be 00:10:30.
    broken = SEQ.replace('start: "08:30"', "start: 10:30", 1)
    with pytest.raises(ConfigError) as info:
        load_project(project_with(tmp_path, sequence=broken))
    (problem,) = info.value.problems
    assert (problem.field, problem.line) == ("send_window.start", line_of(broken, "start: 10:30"))
    assert 'write the time in quotes, e.g. "08:30"' in problem.message

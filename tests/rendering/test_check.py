"""`nurture config check` in-process: every email of every sequence rendered with each sample
lead, and the hand-off email; each problem with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nurture.config.project import load_project
from nurture.handoff.check import check_handoff_email
from nurture.links import Links
from nurture.rendering.check import check_sequences
from nurture.rendering.compose import Composer
from nurture.rendering.render import Renderer
from nurture.tokens import Tokens
from tests.conftest import CONTENT


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A copy of the test project to break."""
    shutil.copytree(CONTENT, tmp_path / "project")
    return tmp_path / "project"


def composer_for(folder: Path) -> Composer:
    return Composer(Renderer(folder / "templates"), Links(Tokens("k"), "https://n.example"))


def check(folder: Path) -> list:
    """What `nurture config check` reports: every sequence email, then the hand-off email."""
    project, composer = load_project(folder / "config"), composer_for(folder)
    return check_sequences(project, composer) + check_handoff_email(project, composer)


def edit_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_the_test_project_has_no_problems():
    assert check(CONTENT) == []


def test_an_unknown_name_is_reported_with_template_file_line_and_step(project_dir):
    template = project_dir / "templates/email/b2b-nurture/03_case_study.txt.j2"
    edit_line(template, 4, "Schritt 3 für {{ lead.frist_name }}")
    problems = check(project_dir)
    # Once for each sequence whose step uses the template (b2b-recycle reuses it).
    assert len(problems) == 2
    assert {(p.file.name, p.line, p.field) for p in problems} == {
        ("03_case_study.txt.j2", 4, "step case-study")
    }
    assert all("frist_name" in p.message and "full sample lead" in p.message for p in problems)


def test_an_error_only_the_sparse_sample_lead_meets_is_reported(project_dir):
    template = project_dir / "templates/email/b2b-nurture/02_problem.html.j2"
    edit_line(template, 4, "<p>{{ lead.company.upper() }}</p>")  # None for a sparse lead
    problems = check(project_dir)
    assert {(p.file.name, p.line) for p in problems} == {("02_problem.html.j2", 4)}
    assert all("sparse sample lead" in p.message for p in problems)


def test_a_syntax_error_is_reported_with_its_file_and_line(project_dir):
    template = project_dir / "templates/email/b2b-nurture/05_objections.html.j2"
    edit_line(template, 4, "<p>{% if lead.first_name %}unclosed</p>")
    problems = check(project_dir)
    assert {(p.file.name, p.field) for p in problems} >= {
        ("05_objections.html.j2", "step objections")
    }
    assert all(p.line is not None for p in problems)
    assert any("endif" in p.message or "end of template" in p.message for p in problems)


def test_a_broken_subject_points_at_the_sequence_file_and_the_subject_line(project_dir):
    path = project_dir / "config/sequences/b2b-nurture.yaml"
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace('"Test 4: der Vergleich"', '"{{ lead.frist_name }}"'), "utf-8")
    [problem] = check(project_dir)
    line = next(i for i, t in enumerate(path.read_text("utf-8").splitlines(), 1) if "frist" in t)
    assert (problem.file.name, problem.line, problem.field) == (
        "b2b-nurture.yaml",
        line,
        "steps.3.subject",
    )
    assert "frist_name" in problem.message


def test_a_broken_handoff_email_is_reported_with_its_template(project_dir):
    template = project_dir / "templates/email/sales/handoff.txt.j2"
    edit_line(template, 1, "Hallo {{ rep.nmae }},")
    [problem] = check(project_dir)
    assert (problem.file.name, problem.line, problem.field) == (
        "handoff.txt.j2",
        1,
        "sales hand-off email",
    )
    assert "nmae" in problem.message

"""The web app's config: while the files do not validate, the last good project is served
(its problems logged once, not per request, and again when they change); at startup there is
none to keep and the error is raised as before."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from nurture.checks import config_checks
from nurture.config import project as project_module
from nurture.config.yamlfile import ConfigError
from nurture.rendering.compose import SAMPLE_LEADS, lead_context
from nurture.settings import Settings
from nurture.web import state as state_module
from nurture.web.state import AppState
from tests.conftest import CONTENT


@pytest.fixture
def working(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    shutil.copytree(CONTENT, tmp_path / "project")
    monkeypatch.setattr(project_module, "RECHECK_SECONDS", 0.0)  # look at the files every time
    monkeypatch.setattr(state_module, "RECHECK_SECONDS", 0.0)
    return Settings(
        config_dir=tmp_path / "project" / "config",
        templates_dir=tmp_path / "project" / "templates",
        var_dir=tmp_path / "var",
        secret_key="k",
    )


def save(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # a new mtime even on a coarse clock: the cache looks at mtimes
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


def test_a_half_edited_form_leaves_the_last_good_project_served(working, caplog):
    state = AppState.from_settings(working)
    good = state.project()
    form = working.config_dir / "forms" / "leitfaden.yaml"
    original = form.read_text()
    save(form, original + "\nfields: [unclosed\n")
    assert state.project() is good
    assert state.project() is good
    [logged] = errors(caplog)  # once, not per request
    assert str(form) in logged and "config refused" in logged
    save(form, original + "\n\nfields: [unclosed\n")  # other problems: logged again
    assert state.project() is good
    assert len(errors(caplog)) == 2
    save(form, original.replace("Leitfaden", "Der Leitfaden", 1))
    fixed = state.project()
    assert fixed is not good
    assert fixed.forms.keys() == good.forms.keys()


def test_at_startup_an_invalid_config_is_raised(working):
    form = working.config_dir / "forms" / "leitfaden.yaml"
    save(form, form.read_text() + "\nfields: [unclosed\n")
    with pytest.raises(ConfigError):
        AppState.from_settings(working).project()


def test_a_template_the_passes_refuse_is_not_served_either(working, caplog):
    """The same verdict as the passes: a template that fails their checks (it loads, it does
    not render) leaves the app on the last good config, so a form post enrols nobody into
    what the dispatcher would refuse, and the confirmation email is the checked one."""
    state = AppState.from_settings(working, checks=config_checks)
    good, composer = state.project(), state.composer
    sequence = working.config_dir / "sequences" / "b2b-nurture.yaml"
    save(sequence, sequence.read_text().replace('name: "Test-Nurture"', 'name: "Neu"', 1))
    welcome = working.templates_dir / "email" / "b2b-nurture" / "01_welcome.txt.j2"
    save(welcome, "{% extends 'layout.txt.j2' %}{% block content %}{{ lead.first_name")
    assert state.project() is good and state.composer is composer
    assert "01_welcome.txt.j2" in errors(caplog)[0]
    lead = lead_context(SAMPLE_LEADS["full"])
    rendered, _ = state.composer.render(good.sequences["b2b-nurture"], 0, lead, "p")
    assert "Max" in rendered.text
    save(
        welcome,
        "{% extends 'layout.txt.j2' %}{% block content %}Hi {{ lead.first_name }}!{% endblock %}",
    )
    assert state.project().sequences["b2b-nurture"].name == "Neu"  # both edits, checked
    rendered, _ = state.composer.render(state.project().sequences["b2b-nurture"], 0, lead, "p")
    assert "Hi Max!" in rendered.text

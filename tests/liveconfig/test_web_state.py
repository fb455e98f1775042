"""The web app's config: while the files do not validate, the last good project is served
(its problems logged once, not per request, and again when they change); at startup there is
none to keep and the error is raised as before."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

from nurture.config import project as project_module
from nurture.config.yamlfile import ConfigError
from nurture.settings import Settings
from nurture.web.state import AppState
from tests.conftest import CONTENT


@pytest.fixture
def working(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    shutil.copytree(CONTENT, tmp_path / "project")
    monkeypatch.setattr(project_module, "RECHECK_SECONDS", 0.0)  # look at the files every time
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

"""The side a plan compares with, read from git: what is config, what is left out, what is
refused."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nurture.plan.sources import SourceError, git_files, snapshot_side
from tests.conftest import CONTENT


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def commit(root: Path) -> None:
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "config")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(CONTENT / "config", root / "config")
    shutil.copytree(CONTENT / "templates", root / "templates")
    git(root, "init", "-q", "-b", "main")
    return root


LATIN1 = "Grüße\n".encode("latin-1")


def test_a_config_file_that_is_not_utf8_is_named(repo):
    (repo / "config/notes.yaml").write_bytes(LATIN1)
    commit(repo)
    with pytest.raises(SourceError, match=re.escape("config/notes.yaml at main is not UTF-8")):
        git_files("main", repo / "config", repo / "templates")


def test_an_image_beside_the_templates_is_left_out_a_template_not_utf8_is_not(repo):
    (repo / "templates/email/logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    commit(repo)
    files = git_files("main", repo / "config", repo / "templates")
    assert "templates/email/logo.png" not in files
    assert "templates/email/layout.html.j2" in files
    (repo / "templates/email/extra.html.j2").write_bytes(LATIN1)
    commit(repo)
    message = re.escape("templates/email/extra.html.j2 at main is not UTF-8")
    with pytest.raises(SourceError, match=message):
        git_files("main", repo / "config", repo / "templates")


def test_a_config_folder_that_is_the_repository_root_is_refused(tmp_path):
    root = tmp_path / "config"
    shutil.copytree(CONTENT / "config", root)
    git(root, "init", "-q", "-b", "main")
    commit(root)
    with pytest.raises(SourceError, match="is the git repository's root itself"):
        git_files("main", root, root / "templates")


def test_an_option_is_not_a_ref(repo):
    commit(repo)
    with pytest.raises(SourceError, match="not a git ref"):
        git_files("--output=x", repo / "config", repo / "templates")
    assert git_files("main", repo / "config", repo / "templates")


def test_a_snapshot_path_outside_its_folder_is_a_source_error(settings, tmp_path):
    files = {"config/sequences/x.yaml": "id: x\n", "config/../../escape.yaml": "x"}
    with pytest.raises(SourceError, match="not a snapshot path"):
        snapshot_side(settings, "live abc", files, tmp_path / "live")
    assert not (tmp_path / "escape.yaml").exists()

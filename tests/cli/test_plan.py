"""`nurture plan` as a marketer (or CI, on a config pull request) runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from nurture.db import session_scope
from nurture.liveconfig.snapshot import read_tree, record, tree_hash
from nurture.utcclock import parse_instant
from tests.cli.conftest import nurture
from tests.conftest import CONTENT

SEQUENCE = "config/sequences/b2b-nurture.yaml"
OBJECTIONS = (
    '  - id: objections\n    template: b2b-nurture/05_objections\n    subject: "Test 5: '
    'Bedenken"\n    delay: "4 days"\n'
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repo(tmp_path: Path, cli_env: dict[str, str]) -> tuple[Path, dict[str, str]]:
    """The fixture project in a git repository, committed; the environment points at it."""
    root = tmp_path / "repo"
    shutil.copytree(CONTENT / "config", root / "config")
    shutil.copytree(CONTENT / "templates", root / "templates")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "config")
    env = {
        **cli_env,
        "NURTURE_CONFIG_DIR": str(root / "config"),
        "NURTURE_TEMPLATES_DIR": str(root / "templates"),
    }
    return root, env


def remove_objections(root: Path) -> None:
    path = root / SEQUENCE
    text = path.read_text(encoding="utf-8")
    assert OBJECTIONS in text
    path.write_text(text.replace(OBJECTIONS, ""), encoding="utf-8")


def test_against_a_git_ref_in_text_and_json(repo):
    root, env = repo
    assert "no changes" in nurture("plan", "--against", "main", env=env).stdout
    remove_objections(root)
    scoring = root / "config/scoring.yaml"
    scoring.write_text(scoring.read_text().replace("mql_threshold: 50", "mql_threshold: 45"))
    text = root / "templates/email/b2b-nurture/02_problem.txt.j2"
    text.write_text(text.read_text().replace("Schritt 2: das Problem.", "Ein neuer Satz."))
    result = nurture("plan", "--against", "main", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "plan: working tree against git main" in out
    assert "sequence b2b-nurture: changed" in out
    assert "step objections: removed (was step 5)" in out
    assert "MQL threshold 50 -> 45" in out
    assert "emails that read differently" in out
    assert "b2b-nurture/problem [de]: 0 in-flight enrollment(s) get it" in out
    assert "-Schritt 2: das Problem." in out and "+Ein neuer Satz." in out
    data = json.loads(nurture("plan", "--against", "main", "--format", "json", env=env).stdout)
    assert data["valid"] is True and data["unchanged"] is False
    [seq] = [s for s in data["sequences"] if s["id"] == "b2b-nurture"]
    removed = {"change": "removed", "step": "objections", "before": "step 5", "after": None}
    assert {**removed, "field": None} in seq["changes"]
    assert data["scoring"]["changes"] == ["MQL threshold 50 -> 45"]


def test_a_config_that_does_not_validate_exits_1_with_file_and_line(repo):
    root, env = repo
    path = root / SEQUENCE
    path.write_text(path.read_text().replace('delay: "4 days"', 'delay: "4 fortnights"'))
    result = nurture("plan", "--against", "main", env=env)
    assert result.returncode == 1
    assert "b2b-nurture.yaml:" in result.stderr and "delay" in result.stderr
    data = json.loads(nurture("plan", "--against", "main", "--format", "json", env=env).stdout)
    assert data["valid"] is False and any("b2b-nurture.yaml:" in p for p in data["problems"])


def test_unknown_ref_and_nothing_live_exit_2(repo):
    _, env = repo
    result = nurture("plan", "--against", "no-such-branch", env=env)
    assert result.returncode == 2 and "no-such-branch" in result.stderr
    result = nurture("plan", env=env)
    assert result.returncode == 2 and "nothing is live yet" in result.stderr


async def test_against_what_is_live(repo, settings):
    root, env = repo
    files = read_tree(root / "config", root / "templates")
    at = parse_instant("2026-12-01T09:00", "UTC")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await record(session, files, tree_hash(files), "dispatch", at)
    remove_objections(root)
    result = nurture("plan", env=env)
    assert result.returncode == 0, result.stderr
    live = f"live {tree_hash(files)[:12]} (applied 2026-12-01 09:00 UTC by dispatch)"
    assert f"plan: working tree against {live}" in result.stdout
    assert "step objections: removed" in result.stdout


async def test_a_snapshot_that_cannot_be_written_back_exits_2(repo, settings):
    _, env = repo
    files = {"config/../outside.yaml": "x: 1\n"}
    at = parse_instant("2026-12-01T09:00", "UTC")
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await record(session, files, tree_hash(files), "dispatch", at)
    result = nurture("plan", env=env)
    assert result.returncode == 2, result.stderr
    assert "not a snapshot path" in result.stderr and "Traceback" not in result.stderr

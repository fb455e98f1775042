"""A config as data: read, hashed, written back (never outside its folder), and recorded as
the live snapshot once per change (a revert is applied again), on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nurture.config.yamlfile import ConfigError
from nurture.db import session_scope
from nurture.liveconfig.models import ConfigSnapshot
from nurture.liveconfig.snapshot import (
    latest,
    latest_hash,
    materialize,
    read_tree,
    record,
    tree_hash,
)
from tests.conftest import CONTENT

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(CONTENT, tmp_path / "project")
    return tmp_path / "project"


def tree(folder: Path) -> dict[str, str]:
    return read_tree(folder / "config", folder / "templates")


def test_read_tree_names_every_config_and_template_file_and_skips_the_rest(project):
    (project / "config" / "sequences" / ".b2b-nurture.yaml.swp").write_text("x")
    (project / "config" / "sequences" / "b2b-nurture.yaml~").write_text("x")
    (project / "templates" / "email" / "cache.pyc").write_bytes(b"\0")
    files = tree(project)
    assert "config/sequences/b2b-nurture.yaml" in files
    assert "templates/email/b2b-nurture/01_welcome.html.j2" in files
    assert "templates/email/style.css" in files
    assert not [n for n in files if n.endswith(("~", ".swp", ".pyc"))]
    assert list(files) == sorted(files)
    text = (project / "config" / "sales.yaml").read_text()
    assert files["config/sales.yaml"] == text


def test_a_file_that_is_not_utf8_is_a_config_problem_with_its_path(project):
    bad = project / "config" / "sources.yaml"
    bad.write_bytes(b"id: \xff\xfe\n")
    with pytest.raises(ConfigError) as exc:
        tree(project)
    assert exc.value.problems[0].file == bad


def test_the_hash_changes_with_any_file_and_not_with_where_the_folder_is(project, tmp_path):
    digest = tree_hash(tree(project))
    assert len(digest) == 64
    shutil.copytree(project, tmp_path / "elsewhere")
    assert tree_hash(tree(tmp_path / "elsewhere")) == digest
    welcome = project / "templates" / "email" / "b2b-nurture" / "01_welcome.txt.j2"
    welcome.write_text(welcome.read_text() + " ")
    assert tree_hash(tree(project)) != digest


def test_materialize_writes_the_snapshot_back_as_it_was_read(project, tmp_path):
    files = tree(project)
    config, templates = materialize(files, tmp_path / "out")
    assert (config, templates) == (tmp_path / "out" / "config", tmp_path / "out" / "templates")
    assert read_tree(config, templates) == files


@pytest.mark.parametrize(
    "name",
    [
        "config/../../escaped.yaml",
        "../escaped.yaml",
        "/tmp/escaped.yaml",
        "elsewhere/escaped.yaml",
        "config",
        "",
        "templates\\..\\..\\escaped.j2",
    ],
)
def test_materialize_refuses_a_path_outside_its_folder_and_writes_nothing(name, tmp_path):
    files = {"config/sales.yaml": "ok", name: "bad"}
    with pytest.raises(ValueError, match="not a snapshot path"):
        materialize(files, tmp_path / "out" / "snapshot")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "escaped.yaml").exists()


async def count(url: str) -> int:
    async with session_scope(url) as session:
        return int(await session.scalar(select(func.count()).select_from(ConfigSnapshot)) or 0)


async def test_record_is_a_change_once_and_a_revert_is_applied_again(db_url):
    a, b = {"config/x.yaml": "a"}, {"config/x.yaml": "b"}
    ha, hb = tree_hash(a), tree_hash(b)
    async with session_scope(db_url) as session:
        assert await latest(session) is None
        assert await record(session, a, ha, "dispatch", NOW)
    async with session_scope(db_url) as session:
        assert not await record(session, a, ha, "handoff", NOW + timedelta(minutes=1))
        assert await record(session, b, hb, "dispatch", NOW + timedelta(minutes=2))
    async with session_scope(db_url) as session:
        assert await latest_hash(session) == hb
        assert await record(session, a, ha, "inbox", NOW + timedelta(minutes=3))  # a revert
    async with session_scope(db_url) as session:
        snapshot = await latest(session)
        assert snapshot is not None
        assert (snapshot.hash, snapshot.files, snapshot.applied_by) == (ha, a, "inbox")
        assert snapshot.first_applied_at == NOW
        assert snapshot.applied_at == NOW + timedelta(minutes=3)
    assert await count(db_url) == 2


def test_a_template_of_any_name_is_in_the_tree_an_image_is_not(project):
    """Jinja includes a file of any name: it is part of what is checked and kept."""
    (project / "templates" / "email" / "_footer.partial").write_text("Gruß {{ sender.name }}")
    (project / "templates" / "email" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0")
    files = tree(project)
    assert files["templates/email/_footer.partial"] == "Gruß {{ sender.name }}"
    assert "templates/email/logo.png" not in files

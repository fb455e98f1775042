"""What the running system applies: working files that validate are live and recorded once;
a half-edited sequence or a broken template is refused with file and line, the last good
config is kept (written under var/live/<hash>/), and a dispatch pass sends from it, nothing
from the broken files. On SQLite and PostgreSQL."""

from __future__ import annotations

import email
import logging
import os
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from nurture.config.yamlfile import ConfigError
from nurture.db import session_scope
from nurture.dispatch.run import live_dispatcher, run_pass
from nurture.flows.config import config_checks
from nurture.liveconfig.live import load_live, refused_markdown
from nurture.liveconfig.models import ConfigSnapshot
from nurture.liveconfig.snapshot import latest_hash, read_tree, tree_hash
from nurture.mail.transports import MemoryTransport
from nurture.rendering.compose import SAMPLE_LEADS, lead_context
from nurture.scheduler import dispatch_once, handoff_once
from nurture.settings import Settings
from tests.conftest import CONTENT
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
LATER = MONDAY + timedelta(minutes=5)


@pytest.fixture
def working(settings: Settings, tmp_path: Path) -> Settings:
    """The settings on a copy of the fixture project (to break), mail to a memory outbox."""
    shutil.copytree(CONTENT, tmp_path / "project")
    return settings.model_copy(
        update={
            "config_dir": tmp_path / "project" / "config",
            "templates_dir": tmp_path / "project" / "templates",
            "mail_url": SecretStr(f"memory://{uuid.uuid4().hex}"),
        }
    )


def sequence_file(s: Settings) -> Path:
    return s.config_dir / "sequences" / "b2b-nurture.yaml"


def welcome_template(s: Settings) -> Path:
    return s.templates_dir / "email" / "b2b-nurture" / "01_welcome.txt.j2"


def half_edit_sequence(s: Settings) -> None:
    """A save in the middle of an edit: a new subject, and a quote not closed yet."""
    path = sequence_file(s)
    text = path.read_text().replace('subject: "Test 2: das Problem"', 'subject: "Neu: das Pro')
    assert text != path.read_text()
    path.write_text(text)


def break_template(s: Settings) -> None:
    path = welcome_template(s)
    path.write_text(path.read_text().replace("Hallo", "HALB BEARBEITET {% if lead.company %}"))


def outbox(s: Settings) -> list[EmailMessage]:
    name = s.mail_url.get_secret_value().removeprefix("memory://")
    return [
        email.message_from_bytes(m.data, policy=default)  # type: ignore[misc]
        for m in MemoryTransport.outboxes.get(name, [])
    ]


async def snapshots(s: Settings) -> int:
    async with session_scope(s.database_url.get_secret_value()) as session:
        return int(await session.scalar(select(func.count()).select_from(ConfigSnapshot)) or 0)


async def test_valid_files_are_live_and_recorded_once(working):
    first = await load_live(working, "dispatch", config_checks, MONDAY)
    assert first.changed and first.refused == []
    # Applied from its own folder, var/live/<hash>: exactly the files that were checked.
    tree = working.var_dir / "live" / first.hash
    assert (first.settings.config_dir, first.settings.templates_dir) == (
        tree / "config",
        tree / "templates",
    )
    assert first.hash == tree_hash(read_tree(working.config_dir, working.templates_dir))
    assert first.hash == tree_hash(read_tree(tree / "config", tree / "templates"))
    assert "b2b-nurture" in first.project.sequences
    again = await load_live(working, "handoff", config_checks, LATER)
    assert not again.changed and again.hash == first.hash
    assert await snapshots(working) == 1


@pytest.mark.parametrize(
    ("breaking", "broken_file"),
    [(half_edit_sequence, sequence_file), (break_template, welcome_template)],
)
async def test_files_that_do_not_validate_are_refused_and_the_last_good_config_kept(
    working, breaking, broken_file, caplog
):
    good = await load_live(working, "dispatch", config_checks, MONDAY)
    breaking(working)
    caplog.set_level(logging.INFO, logger="nurture.liveconfig")
    live = await load_live(working, "dispatch", config_checks, LATER)
    assert live.hash == good.hash and not live.changed
    assert live.refused, "refused, with the problems"
    [problem] = [p for p in live.refused if Path(p.file).name == broken_file(working).name]
    assert problem.line is not None
    # The kept config is the snapshot, written under var/live/<hash>/ and loaded from there.
    kept = working.var_dir / "live" / good.hash
    assert live.settings.config_dir == kept / "config"
    assert live.settings.templates_dir == kept / "templates"
    assert tree_hash(read_tree(kept / "config", kept / "templates")) == good.hash
    assert live.project.sequences["b2b-nurture"].steps[1].subject == "Test 2: das Problem"
    # Logged: each problem with file and line, and what is kept.
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert f"config refused: {problem}" in errors
    assert f"{broken_file(working)}:{problem.line}" in str(problem)
    assert any(f"keeping config {good.hash[:12]}" in e for e in errors)
    assert await snapshots(working) == 1  # nothing recorded from the broken files
    markdown = refused_markdown(live)
    assert f"`{problem.file}` | {problem.line} |" in markdown and good.hash[:12] in markdown


async def test_a_pass_sends_from_the_last_good_config_nothing_from_the_broken_files(working):
    await enrolled_leads(working, 3, MONDAY)
    await load_live(working, "dispatch", config_checks, MONDAY - timedelta(minutes=1))
    # Both edits in progress at once: a new subject and a half-edited welcome email.
    path = sequence_file(working)
    path.write_text(path.read_text().replace('"Willkommen', '"NEU Willkommen'))
    break_template(working)
    d, live = await live_dispatcher(working, "dispatch", config_checks, MONDAY)
    assert live.refused
    report = await run_pass(d, MONDAY)
    assert report.total("sent") == 3
    sent = outbox(working)
    assert len(sent) == 3
    for message in sent:
        assert message["Subject"] == "Willkommen, Max"
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "Hallo Max" in text and "HALB BEARBEITET" not in text


async def test_a_fixed_config_is_live_again_and_recorded(working):
    good = await load_live(working, "dispatch", config_checks, MONDAY)
    original = welcome_template(working).read_text()
    break_template(working)
    assert (await load_live(working, "dispatch", config_checks, LATER)).refused
    welcome_template(working).write_text(original.replace("Hallo", "Guten Tag"))
    fixed = await load_live(working, "dispatch", config_checks, LATER + timedelta(minutes=1))
    assert fixed.changed and fixed.refused == [] and fixed.hash != good.hash
    assert fixed.settings.templates_dir == working.var_dir / "live" / fixed.hash / "templates"
    async with session_scope(working.database_url.get_secret_value()) as session:
        assert await latest_hash(session) == fixed.hash


async def test_the_kept_snapshot_is_written_once_and_rewritten_when_tampered_with(working):
    good = await load_live(working, "dispatch", config_checks, MONDAY)
    break_template(working)
    await load_live(working, "dispatch", config_checks, LATER)
    kept = working.var_dir / "live" / good.hash
    sales = kept / "config" / "sales.yaml"
    stamp = sales.stat().st_mtime_ns
    await load_live(working, "dispatch", config_checks, LATER)
    assert sales.stat().st_mtime_ns == stamp  # reused as it was
    sales.write_text("edited by hand")
    live = await load_live(working, "dispatch", config_checks, LATER)
    assert live.project.sales is not None  # the snapshot's, not the hand edit
    assert tree_hash(read_tree(kept / "config", kept / "templates")) == good.hash
    # No leftovers: the kept tree and the refused one (removed once unused for a day), no
    # temporary or set-aside folders.
    names = {p.name for p in (working.var_dir / "live").iterdir()}
    assert good.hash in names and len(names) == 2 and not [n for n in names if n[0] == "."]


async def test_what_is_applied_is_what_was_checked_whatever_is_saved_meanwhile(working):
    """A pass runs for minutes: a locale's file created or a template saved half-typed after
    the checks must not go out (the renderer would find it in the working folder)."""
    live = await load_live(working, "dispatch", config_checks, MONDAY)
    sequence = live.project.sequences["b2b-nurture"]
    welcome = welcome_template(working)
    (welcome.parent / welcome.name.replace(".txt.j2", ".de.txt.j2")).write_text(
        "{% extends 'layout.txt.j2' %}{% block content %}UNGEPRÜFT {{ lead.first_name"
    )
    welcome.write_text("UNGEPRÜFT")
    rendered, _ = live.composer.render(sequence, 0, lead_context(SAMPLE_LEADS["full"]), "p")
    assert "UNGEPRÜFT" not in rendered.text and "Max" in rendered.text


async def test_only_the_trees_used_last_are_kept(working, monkeypatch):
    from nurture.liveconfig import live as live_module

    monkeypatch.setattr(live_module, "KEPT_FOLDERS", 2)
    monkeypatch.setattr(live_module, "KEPT_SECONDS", 0.0)  # unused for a day: now
    path = sequence_file(working)
    hashes = []
    for n in range(4):
        path.write_text(path.read_text().replace("Test-Nurture", f"Test-Nurture {n}", 1))
        hashes.append((await load_live(working, "dispatch", config_checks, MONDAY)).hash)
    assert sorted(p.name for p in (working.var_dir / "live").iterdir()) == sorted(hashes[-2:])


async def test_refused_with_no_config_applied_before_fails_the_pass(working):
    break_template(working)
    with pytest.raises(ConfigError) as exc:
        await live_dispatcher(working, "dispatch", config_checks, MONDAY)
    assert any(Path(p.file) == welcome_template(working) for p in exc.value.problems)
    assert await snapshots(working) == 0


async def test_files_judged_already_are_not_checked_again_and_an_edit_is(working):
    calls: list[str] = []

    def counting(project, composer):
        calls.append("checked")
        return config_checks(project, composer)

    first = await load_live(working, "dispatch", counting, MONDAY)
    again = await load_live(working, "dispatch", counting, LATER)
    assert len(calls) == 1 and again.project is first.project
    welcome = welcome_template(working)
    welcome.write_text(welcome.read_text().replace("Hallo", "Guten Tag"))
    edited = await load_live(working, "dispatch", counting, LATER + timedelta(minutes=1))
    assert len(calls) == 2 and edited.changed and edited.hash != first.hash


async def test_files_saved_under_the_checks_do_not_change_what_was_checked(working):
    """The checks run on the tree's own copy: an editor saving meanwhile changes the next
    pass's tree, not what this one checked and applies under this hash."""
    sales = working.config_dir / "sales.yaml"
    saves = iter(range(100))

    def saving_meanwhile(project, composer):  # an editor saving as the pass checks
        sales.write_text(sales.read_text() + f"\n# save {next(saves)}\n")
        return config_checks(project, composer)

    live = await load_live(working, "dispatch", saving_meanwhile, LATER)
    assert live.changed and not live.refused
    applied = read_tree(live.settings.config_dir, live.settings.templates_dir)
    assert tree_hash(applied) == live.hash and "# save" not in applied["config/sales.yaml"]
    again = await load_live(working, "dispatch", config_checks, LATER)
    assert again.changed and again.hash != live.hash  # the saved file: the next tree
    assert await snapshots(working) == 2


async def test_the_scheduler_s_pass_says_a_config_was_refused(working):
    await enrolled_leads(working, 1, MONDAY)
    await load_live(working, "dispatch", config_checks, MONDAY - timedelta(minutes=1))
    break_template(working)
    summary = await dispatch_once(working, MONDAY, use_prefect=False)
    assert summary.startswith("1 sent in 1 batch(es) (config refused, 1 problem(s): config ")
    assert len(outbox(working)) == 1
    handoff = await handoff_once(working, MONDAY, use_prefect=False)
    assert handoff.endswith(" kept)")


async def test_a_tree_in_use_is_never_pruned_under_its_process(working, monkeypatch):
    """A marketer saving twenty times makes twenty trees; the one a dispatcher applies stays
    (each judge touches it), the ones nobody used for a day go."""
    from nurture.liveconfig import live as live_module

    monkeypatch.setattr(live_module, "KEPT_FOLDERS", 2)
    applied = await load_live(working, "dispatch", config_checks, MONDAY)
    root = working.var_dir / "live"
    path = sequence_file(working)
    original = path.read_text()
    made = []
    for n in range(4):  # other trees, each made and left a day and a half ago
        path.write_text(original.replace("Test-Nurture", f"Entwurf {n}", 1))
        made.append(live_module.judge(working, config_checks)[1])
        os.utime(root / made[-1], (time.time() - 130_000, time.time() - 130_000))
    path.write_text(original)
    again = await load_live(working, "dispatch", config_checks, LATER)  # touches it
    assert again.hash == applied.hash
    path.write_text(original.replace("Test-Nurture", "Neu", 1))
    newest = live_module.judge(working, config_checks)[1]  # a new tree: the prune runs
    names = {p.name for p in root.iterdir()}
    assert {applied.hash, newest} <= names and not names & set(made)
    assert (root / applied.hash / "templates").is_dir()

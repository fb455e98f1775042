"""What the running system applies: the working config when it validates (recorded as the live
snapshot), else the last one that did, written to ``var/live/<hash>/`` and loaded from there.
A half-edited file is refused, logged with file and line, and nothing is sent from it
(docs/operations.md#config-changes)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nurture.config.project import Project, load_project
from nurture.config.yamlfile import ConfigError, Problem
from nurture.db import session_scope
from nurture.liveconfig.snapshot import (
    CONFIG,
    TEMPLATES,
    latest,
    materialize,
    read_tree,
    record,
    tree_hash,
)
from nurture.rendering.compose import Composer, build_composer
from nurture.settings import Settings

log = logging.getLogger("nurture.liveconfig")

# What a config must pass besides loading: rendering every email and so on. A parameter,
# since the checks of the upper layers (the hand-off email) are not importable from here.
Checks = Callable[[Project, Composer], list[Problem]]

# An editor saving several files is seen mid-way at most this many times in a row before the
# pass gives up on the working files (and keeps the live snapshot) until the next one.
STABLE_TRIES = 3


@dataclass(frozen=True)
class Live:
    project: Project
    # config_dir/templates_dir point at what is live: the working folders, or a materialized
    # snapshot when the working files were refused.
    settings: Settings
    hash: str
    refused: list[Problem]  # the working files' problems when refused (empty: they are live)
    changed: bool  # this load recorded a new live snapshot
    # The composer the checks rendered every email with: its templates are compiled and
    # cached (no reload), so a pass sends what was checked even if a file is saved meanwhile.
    composer: Composer


def _validate(settings: Settings, checks: Checks) -> tuple[Project, Composer]:
    """The project and a composer, or ConfigError with every problem (file and line)."""
    project = load_project(settings.config_dir)
    composer = build_composer(settings)
    problems = checks(project, composer)
    if problems:
        raise ConfigError(problems)
    return project, composer


def _working(
    settings: Settings, checks: Checks
) -> tuple[dict[str, str], str, Project | None, Composer | None, list[Problem]]:
    """The working tree, its hash, and its project and composer, or its problems. The tree is
    read again after the checks: what is recorded under the hash is what was checked."""
    folders = settings.config_dir, settings.templates_dir
    files: dict[str, str] = {}
    digest = ""
    for _ in range(STABLE_TRIES):
        try:
            files = read_tree(*folders)
            digest = tree_hash(files)
            project, composer = _validate(settings, checks)
        except ConfigError as exc:
            return files, digest, None, None, exc.problems
        if tree_hash(read_tree(*folders)) == digest:
            return files, digest, project, composer, []
    changing = Problem(settings.config_dir, None, "", "the files changed while being checked")
    return files, digest, None, None, [changing]


def _materialized(root: Path, digest: str, files: dict[str, str]) -> Path:
    """``root/<hash>``, holding the snapshot: written once (to a temporary folder, renamed
    when complete, so a crash leaves no half-written snapshot under the real name), reused
    after when its files still hash to ``digest``."""
    folder = root / digest

    def complete() -> bool:
        if not folder.is_dir():
            return False
        return tree_hash(read_tree(folder / CONFIG, folder / TEMPLATES)) == digest

    if complete():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    if folder.exists():  # edited by hand: set aside, then replaced
        stale = Path(tempfile.mkdtemp(prefix=f".stale-{digest[:12]}-", dir=root))
        os.replace(folder, stale / digest)
        shutil.rmtree(stale, ignore_errors=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
    try:
        materialize(files, temp)
        os.rename(temp, folder)
    except OSError:
        if not complete():  # not another process that won the rename
            raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return folder


async def load_live(settings: Settings, applied_by: str, checks: Checks, now: datetime) -> Live:
    """The config a pass applies. Working files that validate (load, and pass ``checks``) are
    live, and recorded as the live snapshot when they changed (``applied_by`` at ``now``:
    the wall clock, for "applied last" to mean last). Files that do not are refused: each
    problem is logged, and the last snapshot is applied instead. Raises ConfigError when
    there is none (or it does not validate either): nothing good to keep."""
    url = settings.database_url.get_secret_value()
    files, digest, project, composer, problems = _working(settings, checks)
    if project is not None and composer is not None:
        async with session_scope(url) as session:
            changed = await record(session, files, digest, applied_by, now)
        if changed:
            log.info("applied config %s (%s)", digest[:12], applied_by)
        return Live(project, settings, digest, [], changed, composer)

    for problem in problems:
        log.error("config refused: %s", problem)
    async with session_scope(url) as session:
        snapshot = await latest(session)
        kept = (snapshot.hash, dict(snapshot.files)) if snapshot is not None else None
    if kept is None:
        log.error("config refused and no config was applied before: nothing to keep")
        raise ConfigError(problems)
    live_hash, live_files = kept
    folder = _materialized(settings.var_dir / "live", live_hash, live_files)
    live_settings = settings.model_copy(
        update={"config_dir": folder / CONFIG, "templates_dir": folder / TEMPLATES}
    )
    try:
        project, composer = _validate(live_settings, checks)
    except ConfigError as exc:  # e.g. a new version of nurture is stricter than the old
        log.error("the live config %s does not validate either: %s", live_hash[:12], exc)
        raise ConfigError([*problems, *exc.problems]) from exc
    log.error(
        "config %s refused (%d problem(s)): keeping config %s",
        digest[:12] or "-",
        len(problems),
        live_hash[:12],
    )
    return Live(project, live_settings, live_hash, list(problems), False, composer)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def refused_markdown(live: Live) -> str:
    """The flow run's artifact when the working files were refused: each problem with file
    and line, and the config kept."""
    cells = [(f"`{p.file}`", p.line or "", p.field, p.message) for p in live.refused]
    rows = "\n".join("| " + " | ".join(_cell(c) for c in row) + " |" for row in cells)
    return (
        f"# Config refused\n\n"
        f"The config files do not validate; nothing was sent from them. The last config that "
        f"did is still live: `{live.hash[:12]}` (`{live.settings.config_dir.parent}`).\n\n"
        f"| file | line | field | problem |\n|---|---|---|---|\n{rows}\n\n"
        f"Fix the files (`nurture config check` lists the same problems); the next run "
        f"applies them.\n"
    )

"""What the running system applies: the working config when it validates (recorded as the live
snapshot), else the last one that did, written to ``var/live/<hash>/`` and loaded from there.
A half-edited file is refused, logged with file and line, and nothing is sent from it
(docs/operations.md#config-changes)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

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


@dataclass(frozen=True)
class Judged:
    """A tree that validated, loaded from its own folder ``var/live/<hash>``: what is applied
    is exactly what was checked, whatever is saved in the working folders meanwhile."""

    files: dict[str, str]
    digest: str
    project: Project
    composer: Composer
    settings: Settings  # config_dir/templates_dir: the tree's folder under var/live


Verdict = Judged | ConfigError
# The last verdict per (settings, checks), with the hash of the tree it is about: a pass on
# files judged already reuses it (the checks render every email, a second or so for a real
# project). An edit changes the hash and is judged again.
_verdicts: dict[tuple[str, Checks], tuple[str, Verdict]] = {}
KEPT_VERDICTS = 8  # a process has one or two settings (working, kept); tests have many
# Trees under var/live/ are removed once unused for a day and not among the 20 used last:
# every process touches the tree it applies each time it judges (each pass, each second in
# the web app), so none is removed under a process that applies it.
KEPT_FOLDERS = 20
KEPT_SECONDS = 86_400.0
HASH = re.compile(r"[0-9a-f]{64}")


def _settings_key(settings: Settings) -> str:
    """Every setting, secrets included (a composer's links depend on the key)."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
    }
    return repr(sorted(values.items()))


def _relocated(problem: Problem, folder: Path, settings: Settings) -> Problem:
    """A problem found in the tree's folder, named by the working file it came from."""
    for sub, working in ((CONFIG, settings.config_dir), (TEMPLATES, settings.templates_dir)):
        try:
            relative = Path(problem.file).resolve().relative_to((folder / sub).resolve())
        except ValueError:
            continue
        return replace(problem, file=working / relative)
    return problem


def judge(settings: Settings, checks: Checks) -> tuple[dict[str, str], str, Verdict]:
    """The tree of the settings' folders, its hash, and its verdict: the tree written to
    ``var/live/<hash>`` and checked there (problems named by the working files). Sync and
    without the database: the web app judges with it too, so it serves what the passes
    apply."""
    folders = settings.config_dir, settings.templates_dir
    key = (_settings_key(settings), checks)
    try:
        files = read_tree(*folders)
    except ConfigError as exc:  # a file that is not text
        return {}, "", exc
    digest = tree_hash(files)
    seen = _verdicts.get(key)
    if seen is not None and seen[0] == digest:
        if isinstance(seen[1], Judged):  # in use: not pruned
            with contextlib.suppress(FileNotFoundError):
                os.utime(seen[1].settings.config_dir.parent)
        return files, digest, seen[1]
    root = settings.var_dir / "live"
    folder = _materialized(root, digest, files)
    tree = settings.model_copy(
        update={"config_dir": folder / CONFIG, "templates_dir": folder / TEMPLATES}
    )
    verdict: Verdict
    try:
        project, composer = _validate(tree, checks)
        verdict = Judged(files, digest, project, composer, tree)
    except ConfigError as exc:
        verdict = ConfigError([_relocated(p, folder, settings) for p in exc.problems])
    _verdicts.pop(key, None)
    _verdicts[key] = (digest, verdict)
    while len(_verdicts) > KEPT_VERDICTS:  # the oldest first (insertion order)
        del _verdicts[next(iter(_verdicts))]
    return files, digest, verdict


def _materialized(root: Path, digest: str, files: dict[str, str]) -> Path:
    """``root/<hash>``, holding the snapshot: written once (to a temporary folder, renamed
    when complete, so a crash leaves no half-written snapshot under the real name), reused
    after when its files still hash to ``digest`` (its time touched: the newest used are
    kept, older ones removed)."""
    if not HASH.fullmatch(digest):
        raise ConfigError([Problem(root, None, "", f"not a snapshot hash: {digest!r}")])
    folder = root / digest

    def complete() -> bool:
        if not folder.is_dir():
            return False
        try:
            return tree_hash(read_tree(folder / CONFIG, folder / TEMPLATES)) == digest
        except ConfigError:  # damaged: written again
            return False

    if complete():
        os.utime(folder)
        return folder
    root.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
    try:
        materialize(files, temp / "tree")
        if folder.exists():  # damaged or edited by hand: set aside, then replaced
            with contextlib.suppress(FileNotFoundError):  # another process was first
                os.replace(folder, temp / "stale")
        os.rename(temp / "tree", folder)
    except OSError:
        if not complete():  # not another process that won the rename
            raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    _prune(root, keep=folder)
    return folder


def _prune(root: Path, keep: Path) -> None:
    """Remove the trees unused for KEPT_SECONDS beyond the KEPT_FOLDERS used last (never
    ``keep``)."""
    trees = []
    for p in root.iterdir():
        if p.is_dir() and HASH.fullmatch(p.name) and p != keep:
            with contextlib.suppress(FileNotFoundError):  # another process pruned it
                trees.append((p.stat().st_mtime, p))
    trees.sort(reverse=True)
    oldest = time.time() - KEPT_SECONDS
    for used, old in trees[KEPT_FOLDERS - 1 :]:
        if used < oldest:
            shutil.rmtree(old, ignore_errors=True)


async def load_live(settings: Settings, applied_by: str, checks: Checks, now: datetime) -> Live:
    """The config a pass applies. Working files that validate (load, and pass ``checks``) are
    live, and recorded as the live snapshot when they changed (``applied_by`` at ``now``:
    the wall clock, for "applied last" to mean last). Files that do not are refused: each
    problem is logged, and the last snapshot is applied instead. Raises ConfigError when
    there is none (or it does not validate either): nothing good to keep."""
    url = settings.database_url.get_secret_value()
    files, digest, verdict = judge(settings, checks)
    if isinstance(verdict, Judged):
        async with session_scope(url) as session:
            changed = await record(session, files, digest, applied_by, now)
        if changed:
            log.info("applied config %s (%s)", digest[:12], applied_by)
        return Live(verdict.project, verdict.settings, digest, [], changed, verdict.composer)

    problems = verdict.problems
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
    kept_verdict = judge(live_settings, checks)[2]
    if isinstance(kept_verdict, ConfigError):  # e.g. a new nurture is stricter than the old
        log.error("the live config %s does not validate either: %s", live_hash[:12], kept_verdict)
        raise ConfigError([*problems, *kept_verdict.problems])
    log.error(
        "config %s refused (%d problem(s)): keeping config %s",
        digest[:12] or "-",
        len(problems),
        live_hash[:12],
    )
    return Live(
        kept_verdict.project,
        kept_verdict.settings,
        live_hash,
        list(problems),
        False,
        kept_verdict.composer,
    )


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

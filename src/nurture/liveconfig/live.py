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

# How often in a row a pass sees the files change under its checks before it refuses them
# (and keeps the live snapshot) until the next pass.
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


Verdict = tuple[Project, Composer] | ConfigError
# The last verdict per (settings, checks), with the hash of the tree it is about: a pass on
# files judged already reuses it (the checks render every email, a second or so for a real
# project). An edit changes the hash and is judged again.
_verdicts: dict[tuple[str, Checks], tuple[str, Verdict]] = {}
KEPT_VERDICTS = 8  # a process has one or two settings (working, kept); tests have many


def _settings_key(settings: Settings) -> str:
    """Every setting, secrets included (a composer's links depend on the key)."""
    values = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in settings
    }
    return repr(sorted(values.items()))


def _judge(settings: Settings, checks: Checks) -> tuple[dict[str, str], str, Verdict]:
    """The tree of the settings' folders, its hash, and its verdict. The tree is read again
    after the checks: what is recorded under a hash is what was checked."""
    folders = settings.config_dir, settings.templates_dir
    key = (_settings_key(settings), checks)
    files: dict[str, str] = {}
    digest = ""
    for _ in range(STABLE_TRIES):
        try:
            files = read_tree(*folders)
        except ConfigError as exc:  # a file that is not text
            return {}, "", exc
        digest = tree_hash(files)
        seen = _verdicts.get(key)
        if seen is not None and seen[0] == digest:
            return files, digest, seen[1]
        verdict: Verdict
        try:
            verdict = _validate(settings, checks)
        except ConfigError as exc:
            verdict = exc
        try:
            stable = tree_hash(read_tree(*folders)) == digest
        except ConfigError:
            stable = False
        if stable:
            _verdicts.pop(key, None)
            _verdicts[key] = (digest, verdict)
            while len(_verdicts) > KEPT_VERDICTS:  # the oldest first (insertion order)
                del _verdicts[next(iter(_verdicts))]
            return files, digest, verdict
    changing = Problem(settings.config_dir, None, "", "the files changed while being checked")
    return files, digest, ConfigError([changing])


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
    files, digest, verdict = _judge(settings, checks)
    if not isinstance(verdict, ConfigError):
        project, composer = verdict
        async with session_scope(url) as session:
            changed = await record(session, files, digest, applied_by, now)
        if changed:
            log.info("applied config %s (%s)", digest[:12], applied_by)
        return Live(project, settings, digest, [], changed, composer)

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
    kept_verdict = _judge(live_settings, checks)[2]
    if isinstance(kept_verdict, ConfigError):  # e.g. a new nurture is stricter than the old
        log.error("the live config %s does not validate either: %s", live_hash[:12], kept_verdict)
        raise ConfigError([*problems, *kept_verdict.problems])
    project, composer = kept_verdict
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

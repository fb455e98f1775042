"""The two sides of a plan: the working tree (the settings' folders) and what it is compared
with — the snapshot the running system applied last, or the config and templates at a git
ref — each loaded by the ordinary loaders from a folder."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.project import Project, load_project
from nurture.config.yamlfile import ConfigError
from nurture.liveconfig.snapshot import CONFIG, SUFFIXES, TEMPLATES, latest, materialize
from nurture.rendering.compose import Composer, build_composer
from nurture.settings import Settings


class SourceError(Exception):
    """The side to compare with cannot be had: no snapshot yet, an unknown ref, ..."""


@dataclass(frozen=True)
class Side:
    label: str  # "working tree", "live snapshot 1a2b3c4d5e6f (applied ...)", "git main"
    project: Project
    composer: Composer
    settings: Settings


def side(settings: Settings, label: str, config_dir: Path, templates_dir: Path) -> Side:
    """A config loaded from folders; raises ConfigError when it does not load."""
    moved = settings.model_copy(update={"config_dir": config_dir, "templates_dir": templates_dir})
    return Side(label, load_project(config_dir), build_composer(moved), moved)


async def live_files(session: AsyncSession) -> tuple[str, dict[str, str]]:
    """(label, files) of the snapshot the running system applied last."""
    snapshot = await latest(session)
    if snapshot is None:
        raise SourceError(
            "nothing is live yet: no config snapshot in the database (the dispatcher records "
            "one when it applies a config); compare with a git ref: --against main"
        )
    applied = snapshot.applied_at.strftime("%Y-%m-%d %H:%M UTC")
    return f"live {snapshot.hash[:12]} (applied {applied} by {snapshot.applied_by})", dict(
        snapshot.files
    )


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=True)
    except FileNotFoundError:
        raise SourceError("git is not installed") from None
    except subprocess.CalledProcessError as exc:
        raise SourceError(f"git {' '.join(args)}: {exc.stderr.decode().strip()}") from None
    return done.stdout


def git_files(ref: str, config_dir: Path, templates_dir: Path) -> dict[str, str]:
    """The config and templates folders as they are at ``ref`` of the repository that holds
    them, keyed like a snapshot (``config/...``, ``templates/...``)."""
    if ref.startswith("-"):
        raise SourceError(f"not a git ref: {ref!r}")
    config = config_dir.resolve()
    root = Path(_git(config, "rev-parse", "--show-toplevel").decode().strip())
    # No --end-of-options (git 2.24+): the "-" check above keeps ref from being an option.
    commit = _git(root, "rev-parse", "--verify", f"{ref}^{{commit}}")
    commit_id = commit.decode().strip()
    files: dict[str, str] = {}
    for prefix, folder in ((CONFIG, config), (TEMPLATES, templates_dir.resolve())):
        try:
            relative = folder.relative_to(root).as_posix()
        except ValueError:
            raise SourceError(f"{folder} is not in the git repository at {root}") from None
        if relative == ".":
            # Every file of the repository would count as config (or as a template).
            raise SourceError(
                f"the {prefix} folder {folder} is the git repository's root itself; keep "
                f"config/ and templates/ in folders of their own to compare with a git ref"
            )
        names = _git(root, "ls-tree", "-r", "-z", "--name-only", commit_id, "--", relative)
        for name in filter(None, names.decode().split("\0")):
            blob = _git(root, "show", f"{commit_id}:{name}")
            key = f"{prefix}/{Path(name).relative_to(relative).as_posix()}"
            try:
                files[key] = blob.decode("utf-8")
            except UnicodeDecodeError:
                # An image beside the templates is no config; a config or template file
                # that is not UTF-8 is a problem, not something to leave out unsaid.
                if prefix == TEMPLATES and PurePosixPath(name).suffix not in SUFFIXES:
                    continue
                raise SourceError(f"{name} at {ref} is not UTF-8 text") from None
    if not any(k.startswith(f"{CONFIG}/") for k in files):
        raise SourceError(f"no config at {ref} (looked in {config.relative_to(root)}/)")
    return files


def snapshot_side(settings: Settings, label: str, files: dict[str, str], folder: Path) -> Side:
    """A snapshot written to ``folder`` and loaded from there."""
    try:
        config_dir, templates_dir = materialize(files, folder)
    except ValueError as exc:  # a snapshot path that would write outside the folder
        raise SourceError(f"{label} cannot be read: {exc}") from None
    try:
        return side(settings, label, config_dir, templates_dir)
    except ConfigError as exc:
        raise SourceError(f"{label} does not load:\n{exc}") from None

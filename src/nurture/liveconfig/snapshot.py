"""A config as data: every file of the config and templates folders read into a dict, its
content hash, the snapshot the running system applied last (``config_snapshots``), and a
snapshot written back to a folder so the ordinary loaders read it. Pure reads and one
upsert; no decision about what is live (live.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.yamlfile import ConfigError, Problem
from nurture.db import insert_ignoring_conflicts
from nurture.liveconfig.models import ConfigSnapshot

CONFIG, TEMPLATES = "config", "templates"
# What a config or a template is. Under config/ only these are read (the loaders read YAML);
# under templates/ every text file is, since a template may include a file of any name, and a
# binary asset with another suffix (an image) is left out.
SUFFIXES = {".yaml", ".yml", ".j2", ".css", ".po", ".txt", ".html", ".htm", ".md", ".svg"}


# Editors' and tools' leftovers: never a template, whatever their content.
LEFTOVERS = {".pyc", ".swp", ".swo", ".bak", ".tmp", ".orig", ".rej"}


def _hidden(path: Path, folder: Path) -> bool:
    parts = path.relative_to(folder).parts
    return (
        any(part.startswith(".") or part == "__pycache__" for part in parts)
        or path.name.endswith("~")
        or path.suffix in LEFTOVERS
    )


def read_tree(config_dir: Path, templates_dir: Path) -> dict[str, str]:
    """``config/<relative path>`` and ``templates/<relative path>`` -> the file's text, for
    every config and template file (sorted, so the hash does not depend on the file
    system's order; hidden files and folders, such as editor swap files, left out). A config
    or template file that is not UTF-8 raises ConfigError with its path."""
    files: dict[str, str] = {}
    for prefix, folder in ((CONFIG, config_dir), (TEMPLATES, templates_dir)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or _hidden(path, folder):
                continue
            known = path.suffix in SUFFIXES
            if prefix == CONFIG and not known:
                continue
            try:
                text = path.read_text(encoding="utf-8")
                if "\0" in text:
                    raise UnicodeDecodeError("utf-8", b"\0", 0, 1, "a NUL byte: binary")
            except UnicodeDecodeError as exc:
                if not known:
                    continue  # an image beside the templates
                raise ConfigError([Problem(path, None, "", f"not UTF-8 text: {exc}")]) from exc
            files[f"{prefix}/{path.relative_to(folder).as_posix()}"] = text
    return files


def tree_hash(files: dict[str, str]) -> str:
    """The snapshot's identity: sha256 over paths and texts."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def materialize(files: dict[str, str], folder: Path) -> tuple[Path, Path]:
    """Write a snapshot to ``folder``: returns its (config dir, templates dir). Paths are
    checked, all of them before anything is written: a snapshot is data and never writes
    outside ``folder``."""
    checked = []
    for name, text in files.items():
        relative = PurePosixPath(name)
        parts = relative.parts
        # A file under config/ or templates/; nothing absolute, no way up, no folder itself.
        if (
            relative.is_absolute()
            or len(parts) < 2
            or parts[0] not in (CONFIG, TEMPLATES)
            or ".." in parts
            or "\\" in name
        ):
            raise ValueError(f"not a snapshot path: {name!r}")
        checked.append((folder.joinpath(*parts), text))
    for path, text in checked:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (folder / CONFIG).mkdir(parents=True, exist_ok=True)
    (folder / TEMPLATES).mkdir(parents=True, exist_ok=True)
    return folder / CONFIG, folder / TEMPLATES


async def latest(session: AsyncSession) -> ConfigSnapshot | None:
    """The snapshot applied last: what is live."""
    return await session.scalar(
        select(ConfigSnapshot)
        .order_by(ConfigSnapshot.applied_at.desc(), ConfigSnapshot.hash)
        .limit(1)
    )


async def latest_hash(session: AsyncSession) -> str | None:
    return await session.scalar(
        select(ConfigSnapshot.hash)
        .order_by(ConfigSnapshot.applied_at.desc(), ConfigSnapshot.hash)
        .limit(1)
    )


async def record(
    session: AsyncSession, files: dict[str, str], digest: str, applied_by: str, now: datetime
) -> bool:
    """Record that the running system applied ``files`` at ``now``, unless it is what is
    live already. Returns whether it was a change. Two processes applying the same config
    at once both succeed: the insert ignores the other's row."""
    if await latest_hash(session) == digest:
        return False
    T = ConfigSnapshot.__table__
    await session.execute(
        insert_ignoring_conflicts(session, T, "hash").values(
            hash=digest, files=files, first_applied_at=now, applied_at=now, applied_by=applied_by
        )
    )
    # A config applied before (a revert): it is live again from now.
    await session.execute(
        update(T).where(T.c.hash == digest).values(applied_at=now, applied_by=applied_by)
    )
    return True

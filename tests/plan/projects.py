"""A copy of the fixture project to edit, and the two sides of a plan made from it."""

from __future__ import annotations

import shutil
from pathlib import Path

from nurture.liveconfig.snapshot import read_tree
from nurture.plan.sources import Side, side, snapshot_side
from nurture.settings import Settings
from tests.conftest import CONTENT


def project_copy(settings: Settings, folder: Path) -> Settings:
    shutil.copytree(CONTENT / "config", folder / "config")
    shutil.copytree(CONTENT / "templates", folder / "templates")
    return settings.model_copy(
        update={"config_dir": folder / "config", "templates_dir": folder / "templates"}
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def sides(settings: Settings, live_files: dict[str, str], folder: Path) -> tuple[Side, Side]:
    """(live from ``live_files``, new from the settings' folders)."""
    live = snapshot_side(settings, "live", live_files, folder)
    return live, side(settings, "working tree", settings.config_dir, settings.templates_dir)


def files(settings: Settings) -> dict[str, str]:
    return read_tree(settings.config_dir, settings.templates_dir)

"""The fixture project with topics, built per test in tmp_path (the shared fixture has none):
``b2b-nurture`` gets topic ``praxis-tipps``, and a copy of it, ``news`` (no form trigger),
topic ``neuigkeiten``. Both start with ``welcome`` (no delay, outside the window too)."""

from __future__ import annotations

import shutil
from pathlib import Path

from nurture.settings import Settings
from tests.conftest import CONTENT

NURTURE, NEWS = "praxis-tipps", "neuigkeiten"


def with_topics(settings: Settings, tmp_path: Path) -> Settings:
    config = tmp_path / "topics" / "config"
    shutil.copytree(CONTENT / "config", config)
    nurture = config / "sequences" / "b2b-nurture.yaml"
    text = nurture.read_text(encoding="utf-8")
    nurture.write_text(text + f"topic: {NURTURE}\n", encoding="utf-8")
    news = text.replace("id: b2b-nurture", "id: news").replace(
        "trigger:\n  forms: [leitfaden]\n", ""
    )
    (config / "sequences" / "news.yaml").write_text(news + f"topic: {NEWS}\n", encoding="utf-8")
    return settings.model_copy(update={"config_dir": config})

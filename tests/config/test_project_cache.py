"""The server's cached config: edits are picked up, and a config that does not load says so
on every call until it is fixed — never the old project every other second."""

from __future__ import annotations

import os
import shutil

import pytest

from nurture.config import project as cached
from nurture.config.project import load_project_cached
from nurture.config.yamlfile import ConfigError
from tests.conftest import CONTENT


def touch(path, when: float) -> None:
    os.utime(path, (when, when))


def test_a_broken_config_raises_on_every_call_until_fixed(tmp_path, monkeypatch):
    config = tmp_path / "config"
    shutil.copytree(CONTENT / "config", config)
    sequence = config / "sequences" / "b2b-nurture.yaml"
    good = sequence.read_text(encoding="utf-8")
    monkeypatch.setattr(cached, "RECHECK_SECONDS", 0.0)  # look at the files on every call
    assert load_project_cached(config).sequences["b2b-nurture"].name == "Test-Nurture"

    sequence.write_text(good.replace('name: "Test-Nurture"', "name: [unclosed"), "utf-8")
    touch(sequence, 1_900_000_000)
    for _ in range(3):  # the files unchanged since: the same error, not the old project
        with pytest.raises(ConfigError) as caught:
            load_project_cached(config)
        assert "b2b-nurture.yaml" in str(caught.value)
    monkeypatch.setattr(cached, "RECHECK_SECONDS", 3600.0)  # within the recheck interval too
    with pytest.raises(ConfigError):
        load_project_cached(config)

    monkeypatch.setattr(cached, "RECHECK_SECONDS", 0.0)
    sequence.write_text(good.replace("Test-Nurture", "Edited"), "utf-8")
    touch(sequence, 1_900_000_100)
    assert load_project_cached(config).sequences["b2b-nurture"].name == "Edited"


def test_sequences_sharing_a_topic_share_its_label(tmp_path):
    from nurture.config.project import load_project

    config = tmp_path / "config"
    shutil.copytree(CONTENT / "config", config)
    for name, label in (("b2b-nurture", "Ratgeber"), ("b2b-recycle", "Tipps")):
        path = config / "sequences" / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text.replace("sender:\n", f"topic: ratgeber\ntopic_label: {label}\nsender:\n", 1),
            encoding="utf-8",
        )
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    [problem] = caught.value.problems
    assert problem.file.name == "b2b-recycle.yaml" and problem.field == "topic_label"
    assert problem.message == "topic 'ratgeber' is labelled differently in sequence 'b2b-nurture'"

"""A test's own project: the fixture project's config copied to tmp_path, with a policy.yaml
and extra sequences (so the fixture project, which other tests assert on, stays as it is)."""

from __future__ import annotations

import shutil
from pathlib import Path

from nurture.settings import Settings
from tests.conftest import CONTENT

TEMPLATES = ("01_welcome", "02_problem", "03_case_study", "04_comparison", "05_objections")

SEQUENCE = """\
id: {id}
name: "{id}"
priority: {priority}
sender:
  name: "Lena Vogt"
  email: "lena.vogt@planwerk.example"
  company: "Planwerk GmbH"
  address: "Teststraße 1, 10119 Berlin"
send_window:
  weekdays: [mon, tue, wed, thu, fri]
  start: "08:30"
  end: "17:30"
  timezone: "Europe/Berlin"
links:
  whitepaper: "https://planwerk.example/w"
  case_study: "https://planwerk.example/c"
  pricing: "https://planwerk.example/p"
  demo: "https://planwerk.example/d"
  website: "https://planwerk.example"
steps:
{steps}
"""


def sequence_yaml(sequence_id: str, delays: list[str], priority: int = 0) -> str:
    """A sequence with one step per delay (ids s1, s2, ...), in the window Mon-Fri 08:30-17:30
    Berlin."""
    steps = "\n".join(
        f"  - {{id: s{i + 1}, template: b2b-nurture/{TEMPLATES[i % len(TEMPLATES)]}, "
        f'subject: "{sequence_id} {i + 1}", delay: "{delay}"}}'
        for i, delay in enumerate(delays)
    )
    return SEQUENCE.format(id=sequence_id, priority=priority, steps=steps)


def write_config(tmp_path: Path, policy: str, sequences: dict[str, str]) -> Path:
    """A copy of the fixture config with this policy.yaml and these sequence files (id ->
    YAML); returns its folder."""
    config = tmp_path / "config"
    shutil.copytree(CONTENT / "config", config)
    (config / "policy.yaml").write_text(policy, encoding="utf-8")
    for sequence_id, text in sequences.items():
        (config / "sequences" / f"{sequence_id}.yaml").write_text(text, encoding="utf-8")
    return config


def policy_settings(
    settings: Settings, tmp_path: Path, policy: str, sequences: dict[str, str]
) -> Settings:
    """``settings`` on ``write_config``'s project."""
    return settings.model_copy(update={"config_dir": write_config(tmp_path, policy, sequences)})

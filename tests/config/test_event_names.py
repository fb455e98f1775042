"""Event and stage names in config are checked against the vocabulary: a typo is an error
with its file, line and the closest match, not a rule that silently never matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from nurture.config.scoring import ScoringConfig
from nurture.config.sequences import SequenceConfig
from nurture.config.yamlfile import ConfigError, load_yaml, validate
from nurture.leads.events import EventType

SCORING = """\
mql_threshold: 50
engagement:
  - id: opens
    event: open
    points: 3
  - id: clicks
    event: {event}
    points: 8
"""

SEQUENCE = """\
id: drip
name: Drip
sender:
  name: Anna
  email: anna@example.com
  company: Planwerk GmbH
  address: "Hauptstr. 1, Berlin"
goals:
  - {goal}
steps:
  - id: welcome
    template: drip/welcome
    subject: Hallo
"""


def problems(tmp_path: Path, text: str, model: type) -> list[str]:
    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        validate(load_yaml(path), model)
    except ConfigError as exc:
        return [str(p).replace(str(path), "file.yaml") for p in exc.problems]
    return []


def test_a_misspelt_event_names_file_line_field_and_the_closest_event(tmp_path):
    [problem] = problems(tmp_path, SCORING.format(event="clik"), ScoringConfig)
    assert problem.startswith("file.yaml:7: engagement.1.event: unknown event 'clik'; ")
    assert "did you mean click?" in problem


@pytest.mark.parametrize("event", ["demo_booked", "Click", "custom", "custom."])
def test_an_event_nurture_does_not_record_and_not_custom_is_an_error(tmp_path, event):
    [problem] = problems(tmp_path, SCORING.format(event=event), ScoringConfig)
    assert "engagement.1.event" in problem


@pytest.mark.parametrize("event", ["custom.Webinar", "custom.a-b", "custom." + "x" * 26])
def test_a_custom_event_name_is_checked_too(tmp_path, event):
    [problem] = problems(tmp_path, SCORING.format(event=event), ScoringConfig)
    assert "custom event" in problem and "custom.webinar_registered" in problem


def test_known_and_custom_events_load_as_their_names(tmp_path):
    path = tmp_path / "scoring.yaml"
    path.write_text(SCORING.format(event="custom.webinar_registered"), encoding="utf-8")
    config = validate(load_yaml(path), ScoringConfig)
    assert [r.event for r in config.engagement] == [EventType.OPEN, "custom.webinar_registered"]


def test_a_goal_with_an_unknown_event_or_stage_is_an_error(tmp_path):
    [event] = problems(tmp_path, SEQUENCE.format(goal="event: dmeo_booked"), SequenceConfig)
    assert event.startswith("file.yaml:9: goals.0.event: unknown event 'dmeo_booked'")
    [stage] = problems(tmp_path, SEQUENCE.format(goal="stage: sqll"), SequenceConfig)
    assert "goals.0.stage: unknown goal stage 'sqll'; did you mean sql?" in stage
    [early] = problems(tmp_path, SEQUENCE.format(goal="stage: lead"), SequenceConfig)
    assert "a goal stage is one of mql, sql, opportunity, customer" in early

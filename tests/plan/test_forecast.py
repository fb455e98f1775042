"""The forecast's rules, without a database: the dispatcher's next-step rule and clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from nurture.config.project import load_project
from nurture.plan.forecast import Effect, Fate, Upcoming, effects, forecast
from tests.conftest import CONTENT

SEQUENCE = load_project(CONTENT / "config").sequences["b2b-nurture"]
HAD = frozenset({"welcome", "problem"})
TUESDAY = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def without(step_id: str):
    return SEQUENCE.model_copy(update={"steps": [s for s in SEQUENCE.steps if s.id != step_id]})


def test_unchanged_sequence_forecasts_the_rest_in_order():
    path = forecast(SEQUENCE, "comparison", TUESDAY, HAD, None, TUESDAY)
    assert [u.step_id for u in path] == ["comparison", "objections", "demo", "breakup"]
    assert path[0].at == TUESDAY  # the scheduled touch keeps its date
    assert all(a.at < b.at for a, b in pairwise(path))


def test_a_removed_scheduled_step_is_skipped_then_the_first_step_not_had():
    had = frozenset({"welcome", "problem", "case-study", "comparison", "objections"})
    new = forecast(without("objections"), "objections", TUESDAY, had, None, TUESDAY)
    assert new[0] == Upcoming("objections", TUESDAY, "step_removed")
    assert [u.step_id for u in new[1:]] == ["demo", "breakup"]
    assert new[1].at > TUESDAY
    live = forecast(SEQUENCE, "objections", TUESDAY, had, None, TUESDAY)
    found = effects(live, new)
    # Skipped at the instant it would have been sent: the steps after keep their dates.
    assert found == [Effect(Fate.SKIPPED, "objections", TUESDAY)]


def test_a_removed_sequence_ends_the_enrollment_when_due():
    found = effects(
        forecast(SEQUENCE, "demo", TUESDAY, frozenset({"demo"}), None, TUESDAY),
        forecast(None, "demo", TUESDAY, frozenset({"demo"}), None, TUESDAY),
    )
    assert found[0] == Effect(Fate.ENDED, "demo", TUESDAY)
    assert [e.fate for e in found[1:]] == [Fate.NOT_SENT]  # breakup


def test_a_lead_timezone_moves_the_dates_into_its_window():
    berlin = forecast(SEQUENCE, "problem", TUESDAY, HAD, None, TUESDAY)
    ny = forecast(SEQUENCE, "problem", TUESDAY, HAD, "America/New_York", TUESDAY)
    assert berlin[1].at != ny[1].at


def test_an_overdue_touch_goes_out_now_and_the_next_counts_from_then():
    # Due a week ago (the dispatcher was down): sent at the next pass, problem 2 days on.
    week_ago = TUESDAY - timedelta(days=7)
    path = forecast(SEQUENCE, "welcome", week_ago, frozenset({"welcome"}), None, TUESDAY)
    on_time = forecast(SEQUENCE, "welcome", TUESDAY, frozenset({"welcome"}), None, TUESDAY)
    assert path == on_time and path[0].at == TUESDAY

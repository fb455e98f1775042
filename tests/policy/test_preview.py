"""The policy's effect on one lead's plan (what `nurture schedule` prints)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nurture.config.project import load_project
from nurture.policy.preview import plan_with_policy
from tests.policy.projects import sequence_yaml, write_config

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def project(tmp_path, policy: str, sequences: dict[str, list[str]], **priorities: int):
    files = {x: sequence_yaml(x, d, priorities.get(x, 0)) for x, d in sequences.items()}
    return load_project(write_config(tmp_path, policy, files))


def sent(plan) -> list[tuple[str, str, datetime]]:
    return [(x.sequence.id, x.step.id, x.sent) for x in plan]


def test_the_cap_defers_across_overlapping_sequences_and_says_why(tmp_path):
    p = project(
        tmp_path,
        "cap: {max: 2, per: 7d}\nquiet_days: {public_holidays: []}\n",
        {"a": ["0", "1 day"], "b": ["0", "1 day"]},
    )
    plan = plan_with_policy(p.policy, [p.sequences["a"], p.sequences["b"]], MONDAY, None, None)
    week = MONDAY + timedelta(days=7)  # when the first two leave the window
    assert sent(plan) == [
        ("a", "s1", MONDAY),
        ("b", "s1", MONDAY),
        ("a", "s2", week),
        ("b", "s2", week),
    ]
    assert plan[0].reasons == () and plan[2].due == MONDAY + timedelta(days=1)
    assert plan[2].reasons == ("cap: 2 in 7d reached",)


def test_a_quiet_day_of_the_leads_country_moves_the_touch_and_its_successors(tmp_path):
    p = project(tmp_path, "quiet_days: {public_holidays: [DE]}\n", {"a": ["0", "1 day", "1 day"]})
    unity = datetime(2028, 10, 2, 9, 0, tzinfo=UTC)  # Monday; Tuesday is German Unity Day
    [a] = [p.sequences["a"]]
    plan = plan_with_policy(p.policy, [a], unity, None, "Germany")
    wednesday = datetime(2028, 10, 4, 8, 30, tzinfo=BERLIN)
    assert [x.sent for x in plan] == [unity, wednesday, wednesday + timedelta(days=1)]
    assert plan[1].reasons == ("quiet day: German Unity Day (DE)",)
    swedish = plan_with_policy(p.policy, [a], unity, None, "SE")  # SE holidays not observed
    assert [x.reasons for x in swedish] == [(), (), ()]


def test_a_higher_priority_sequence_pauses_the_lower_until_it_ends(tmp_path):
    p = project(
        tmp_path,
        "quiet_days: {public_holidays: []}\n",
        {"high": ["0", "2 days"], "low": ["0"]},
        high=5,
    )
    plan = plan_with_policy(p.policy, [p.sequences["low"], p.sequences["high"]], MONDAY, None, None)
    wednesday = MONDAY + timedelta(days=2)  # high/s2 goes out and high ends
    assert sent(plan) == [
        ("high", "s1", MONDAY),
        ("high", "s2", wednesday),
        ("low", "s1", wednesday + timedelta(days=1)),  # as the dispatcher: paused Wednesday too
    ]
    assert plan[2].reasons == ("paused while in high (higher priority)",) * 3


def test_exempt_sequences_neither_wait_nor_count(tmp_path):
    p = project(
        tmp_path,
        "cap: {max: 1, per: 7d}\nquiet_days: {public_holidays: []}\nexempt_sequences: [tx]\n",
        {"a": ["0"], "tx": ["0", "1 hour"]},
    )
    plan = plan_with_policy(p.policy, [p.sequences["a"], p.sequences["tx"]], MONDAY, None, None)
    assert all(x.reasons == () for x in plan) and len(plan) == 3

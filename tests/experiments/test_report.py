"""The report's experiments section on a constructed history, numbers worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.experiments.decide import decide_experiments
from nurture.reporting.funnel import funnel_report
from nurture.reporting.funnel_format import as_html, as_json, as_text
from tests.cli.conftest import nurture
from tests.experiments.project import SEQ, history, project
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def report(s, **kwargs):
    async with session_scope(s.database_url.get_secret_value()) as session:
        return await funnel_report(
            session,
            load_project(s.config_dir),
            MONDAY - timedelta(days=1),
            MONDAY + timedelta(days=1),
            **kwargs,
        )


async def test_the_numbers_of_a_constructed_experiment(settings, tmp_path):
    s = project(settings, tmp_path, winner={"after": 100})
    await enrolled_leads(s, 420, MONDAY, sequence_id=SEQ)
    # a: 200 sends, 60 opened, 10 clicked by a person and 20 more by a scanner
    # b: 200 sends, 70 opened, 30 clicked
    await history(s, MONDAY, {"a": (200, 60, 10, 20), "b": (200, 70, 30, 0)})
    before = await report(s)
    [x] = before.experiments
    assert (x.sequence, x.step, x.metric, x.confidence, x.after) == (
        SEQ,
        "step0",
        "clicks",
        0.95,
        100,
    )
    assert x.winner is None and x.decided_at is None
    a, b = x.variants
    assert (a.variant, a.control, a.sends, a.human_opens, a.human_clicks) == (
        "a",
        True,
        200,
        60,
        10,
    )
    assert (b.variant, b.control, b.sends, b.human_opens, b.human_clicks) == (
        "b",
        False,
        200,
        70,
        30,
    )
    assert (a.click_rate, b.click_rate, a.open_rate, b.open_rate) == (0.05, 0.15, 0.3, 0.35)
    assert a.difference is None and a.p_value is None and not a.significant
    # pooled 0.10: se0 = sqrt(.1 * .9 * 2/200) = .03, z = .10/.03 = 3.333, p = 2(1 - Phi(z))
    # unpooled se = sqrt(.05 * .95/200 + .15 * .85/200) = .029580, half 1.95996 se = .057976
    assert b.difference == 0.1 and b.p_value == 0.0008581
    assert (b.low, b.high) == (0.042, 0.158) and b.significant
    # 5 % -> 7 % at alpha .05, power .8: 2213 per variant (tests/experiments/test_stats.py)
    assert x.min_difference == 0.02 and x.sends_needed == 2213
    assert (a.sends_still_needed, b.sends_still_needed) == (2013, 2013)
    text = as_text(before)
    assert (
        "ab-test/step0: clicks at 95%, decides after 100 sends per variant - no winner yet" in text
    )
    assert "+10.0  +4.2 .. +15.8" in text and "0.0009 *" in text
    assert "2213 sends per variant; still needed: a 2013, b 2013" in text

    async with session_scope(s.database_url.get_secret_value()) as session:
        [_decision] = await decide_experiments(session, load_project(s.config_dir), MONDAY)
    after = await report(s, min_difference=0.05)
    [x] = after.experiments
    assert (x.winner, x.decided_at) == ("b", MONDAY)
    assert x.sends_needed == 435 and x.variants[1].sends_still_needed == 235
    assert "winner: b (decided 2026-11-23 09:00)" in as_text(after)
    html = as_html(after)
    assert "winner: b (decided 2026-11-23 09:00)" in html and "+4.2 .. +15.8" in html
    data = json.loads(as_json(after))
    assert data["format"] == 4 and data["experiments"][0]["winner"] == "b"


async def test_a_control_without_clicks_cannot_size_the_test_yet(settings, tmp_path):
    s = project(settings, tmp_path)
    await enrolled_leads(s, 30, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (10, 0, 0, 5), "b": (0, 0, 0, 0)})
    [x] = (await report(s)).experiments
    assert x.after is None and x.sends_needed is None
    assert [v.sends for v in x.variants] == [10, 0] and x.variants[1].p_value is None
    assert "not yet known" in as_text(await report(s))


async def test_the_command_takes_the_difference(settings, tmp_path):
    s = project(settings, tmp_path)
    await enrolled_leads(s, 40, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (20, 5, 2, 0), "b": (20, 5, 6, 0)})
    env = {
        "NURTURE_DATABASE_URL": s.database_url.get_secret_value(),
        "NURTURE_CONFIG_DIR": str(s.config_dir),
        "NURTURE_TEMPLATES_DIR": str(s.templates_dir),
        "NURTURE_SECRET_KEY": s.secret_key.get_secret_value(),
    }
    span = ["--since", (MONDAY - timedelta(days=1)).isoformat(), "--format", "json"]
    done = nurture("report", *span, "--min-difference", "0.1", env=env)
    assert done.returncode == 0, done.stderr
    [x] = json.loads(done.stdout)["experiments"]
    assert x["min_difference"] == 0.1 and [v["human_clicks"] for v in x["variants"]] == [2, 6]
    wrong = nurture("report", "--min-difference", "2", env=env)
    assert wrong.returncode == 1 and "--min-difference" in wrong.stderr

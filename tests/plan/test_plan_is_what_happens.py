"""What ``nurture plan`` predicts is what happens: leads under way at different steps (and in
two timezones), a sequence edited under them (a step moved, one removed, one inserted, a
delay changed), the plan made, then the dispatcher let run with the new config; each lead got
exactly the touches, on exactly the dates, its group's forecast said — and the plan's counts
add up to the leads."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Lead
from nurture.ledger.models import CLAIMABLE, Enrollment, Touch, TouchState
from nurture.liveconfig.snapshot import read_tree, record, tree_hash
from nurture.plan.build import build_plan
from nurture.plan.forecast import Fate
from nurture.plan.sources import side, snapshot_side
from tests.conftest import CONTENT
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POLICY = "exempt_sequences: [b2b-nurture]\n"  # the forecast is the sequence's own timing

EDIT = {
    # demo moves before comparison; objections goes; webinar comes after case-study;
    # breakup waits 2 days instead of 7.
    '  - id: comparison\n    template: b2b-nurture/04_comparison\n    subject: "Test 4: der '
    'Vergleich"\n    delay: "3 business days"\n': "",
    '  - id: objections\n    template: b2b-nurture/05_objections\n    subject: "Test 5: '
    'Bedenken"\n    delay: "4 days"\n': "",
    '    delay: "7 days"\n': '    delay: "2 days"\n',
}
INSERT_AFTER_CASE_STUDY = (
    '  - id: webinar\n    template: b2b-nurture/03_case_study\n    subject: "Webinar"\n'
    '    delay: "1 day"\n'
)
COMPARISON = (
    '  - id: comparison\n    template: b2b-nurture/04_comparison\n    subject: "Test 4: der '
    'Vergleich"\n    delay: "3 business days"\n'
)


@pytest.fixture
def project(tmp_path: Path, settings):
    folder = tmp_path / "project"
    shutil.copytree(CONTENT / "config", folder / "config")
    shutil.copytree(CONTENT / "templates", folder / "templates")
    (folder / "config" / "policy.yaml").write_text(POLICY, encoding="utf-8")
    return settings.model_copy(
        update={"config_dir": folder / "config", "templates_dir": folder / "templates"}
    )


def edit_sequence(config: Path) -> None:
    path = config / "sequences" / "b2b-nurture.yaml"
    text = path.read_text(encoding="utf-8")
    for old, new in EDIT.items():
        assert old in text, old
        text = text.replace(old, new)
    case_study_end = text.index('    delay: "3 business days"\n', text.index("id: case-study"))
    at = case_study_end + len('    delay: "3 business days"\n')
    text = text[:at] + INSERT_AFTER_CASE_STUDY + text[at:]
    demo_end = text.index("  - id: breakup")
    text = text[:demo_end] + COMPARISON + text[demo_end:]
    path.write_text(text, encoding="utf-8")


async def due_times(settings, until: datetime | None = None) -> list[datetime]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        query = select(func.min(Touch.due_at)).where(Touch.state.in_(CLAIMABLE))
        first = await session.scalar(query)
    return [] if first is None or (until and first > until) else [first]


async def run_until(settings, until: datetime) -> None:
    """Dispatch passes at each due time in turn, up to ``until``: each touch goes out exactly
    when due."""
    while times := await due_times(settings, until):
        await run_pass(build_dispatcher(settings), times[0])


async def touches_by_enrollment(settings) -> dict[int, list[tuple[str, str, datetime | None]]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(
                Touch.enrollment_id, Touch.step_id, Touch.state, Touch.sent_at, Touch.reason
            ).order_by(Touch.enrollment_id, Touch.id)
        )
        out: dict[int, list[tuple[str, str, datetime | None]]] = {}
        for e, step, state, sent_at, reason in rows:
            what = state if state != TouchState.SKIPPED else f"skipped:{reason}"
            out.setdefault(e, []).append((step, what, sent_at))
        return out


async def group_keys(settings) -> dict[int, tuple]:
    """Each active enrollment's forecast key: (sequence, scheduled step, due, timezone, had)."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        had: dict[int, set[str]] = {}
        for e, step in await session.execute(select(Touch.enrollment_id, Touch.step_id)):
            had.setdefault(e, set()).add(step)
        rows = await session.execute(
            select(
                Touch.enrollment_id, Touch.sequence_id, Touch.step_id, Touch.due_at, Lead.timezone
            )
            .join(Lead, Lead.id == Touch.lead_id)
            .join(Enrollment, Enrollment.id == Touch.enrollment_id)
            .where(Touch.state.in_(CLAIMABLE), Enrollment.state == "active")
        )
        return {e: (s, step, due, tz, frozenset(had[e])) for e, s, step, due, tz in rows}


async def test_what_plan_predicts_is_what_the_dispatcher_does(project, tmp_path):
    settings = project
    # Three cohorts, three weeks apart, some in New York: by MONDAY at different steps.
    await enrolled_leads(settings, 4, MONDAY - timedelta(days=21), domain="early.example")
    await enrolled_leads(
        settings, 3, MONDAY - timedelta(days=21), domain="ny.example", timezone="America/New_York"
    )
    await enrolled_leads(settings, 3, MONDAY - timedelta(days=13), domain="mid.example")
    await enrolled_leads(settings, 4, MONDAY - timedelta(days=9), domain="later.example")
    await enrolled_leads(settings, 3, MONDAY, domain="late.example")
    await run_until(settings, MONDAY)
    url = settings.database_url.get_secret_value()
    live_files = read_tree(settings.config_dir, settings.templates_dir)
    async with session_scope(url) as session:
        await record(session, live_files, tree_hash(live_files), "dispatch", MONDAY)
    before = await touches_by_enrollment(settings)
    keys = await group_keys(settings)
    assert len(keys) == 17

    edit_sequence(settings.config_dir)
    load_project(settings.config_dir)  # the edit is a valid config
    new = side(settings, "working tree", settings.config_dir, settings.templates_dir)
    live = snapshot_side(settings, "live", live_files, tmp_path / "live")
    plan = await build_plan(url, live, new, MONDAY)

    [sequence] = [s for s in plan.sequences if s.sequence_id == "b2b-nurture"]
    assert sequence.status == "changed"
    assert {str(c.change) for c in sequence.changes} >= {"added", "removed", "moved", "delay"}
    assert sequence.active == 17 and sum(f.group.enrollments for f in sequence.forecasts) == 17
    fates = {e.fate for f in sequence.forecasts for e in f.effects}
    assert fates >= {Fate.NEW, Fate.NOT_SENT, Fate.RESCHEDULED, Fate.SKIPPED}, fates
    by_key = {
        (f.group.sequence_id, f.group.step_id, f.group.due, f.group.timezone, f.group.had): f
        for f in sequence.forecasts
    }

    # The dispatcher, with the new config, until nothing is left.
    await run_until(settings, MONDAY + timedelta(days=120))
    after = await touches_by_enrollment(settings)
    checked = Counter()
    for enrollment, key in keys.items():
        forecast = by_key[key]
        happened = after[enrollment][len(before[enrollment]) - 1 :]  # from the scheduled one
        expected = [
            (u.step_id, f"skipped:{u.skipped}", None) if u.skipped else (u.step_id, "sent", u.at)
            for u in forecast.new
        ]
        got = [(step, str(what), at) for step, what, at in happened]
        assert got == expected, (enrollment, key[1], got, expected)
        checked[key[1]] += 1
    assert sum(checked.values()) == 17 and len(checked) >= 3  # leads at three steps or more


async def test_touches_overdue_at_plan_time_go_out_now_and_the_plan_says_so(project, tmp_path):
    # The dispatcher stopped on Thursday; the plan is made on Monday, the pass runs then:
    # the overdue touches go out at that pass and the next steps count from it.
    settings = project
    stopped = MONDAY - timedelta(days=4)
    await enrolled_leads(settings, 3, MONDAY - timedelta(days=21), domain="early.example")
    await enrolled_leads(settings, 2, MONDAY - timedelta(days=9), domain="later.example")
    await run_until(settings, stopped)
    url = settings.database_url.get_secret_value()
    live_files = read_tree(settings.config_dir, settings.templates_dir)
    async with session_scope(url) as session:
        await record(session, live_files, tree_hash(live_files), "dispatch", stopped)
    before = await touches_by_enrollment(settings)
    keys = await group_keys(settings)
    overdue = [e for e, key in keys.items() if key[2] < MONDAY]
    assert len(keys) == 5 and len(overdue) >= 2, keys

    edit_sequence(settings.config_dir)
    new = side(settings, "working tree", settings.config_dir, settings.templates_dir)
    live = snapshot_side(settings, "live", live_files, tmp_path / "live")
    plan = await build_plan(url, live, new, MONDAY)
    [sequence] = [s for s in plan.sequences if s.sequence_id == "b2b-nurture"]
    by_key = {
        (f.group.sequence_id, f.group.step_id, f.group.due, f.group.timezone, f.group.had): f
        for f in sequence.forecasts
    }

    await run_pass(build_dispatcher(settings), MONDAY)
    await run_until(settings, MONDAY + timedelta(days=120))
    after = await touches_by_enrollment(settings)
    for enrollment, key in keys.items():
        forecast = by_key[key]
        assert forecast.new[0].at == max(key[2], MONDAY)
        happened = after[enrollment][len(before[enrollment]) - 1 :]
        expected = [
            (u.step_id, f"skipped:{u.skipped}", None) if u.skipped else (u.step_id, "sent", u.at)
            for u in forecast.new
        ]
        got = [(step, str(what), at) for step, what, at in happened]
        assert got == expected, (enrollment, key[1], got, expected)

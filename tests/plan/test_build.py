"""The parts of a plan besides the forecast: emails whose text changes, forms that enrol
elsewhere, leads that would cross the MQL threshold — and that making a plan writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.db import get_engine, session_scope
from nurture.leads.events import record_events
from nurture.leads.models import Lead, LeadScore
from nurture.plan import build
from nurture.plan.build import build_plan
from nurture.plan.changes import Change
from nurture.plan.forecast import Fate, Upcoming
from nurture.plan.inflight import groups
from nurture.plan.output import plan_json, plan_text
from tests.factories import enrolled_leads
from tests.plan.projects import edit, files, project_copy, sides

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
PRICING = "https://planwerk.example/preise"


async def test_an_unchanged_config_plans_nothing(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    live, new = sides(settings, files(settings), tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    assert plan.unchanged and not plan.texts and not plan.forms and plan.scoring is None


async def test_a_template_edit_shows_as_a_diff_of_the_text_with_its_receivers(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    await enrolled_leads(settings, 3, MONDAY)  # all at welcome: they will get case-study
    before = files(settings)
    edit(
        settings.templates_dir / "email/b2b-nurture/03_case_study.txt.j2",
        "{{",
        "Neu: ein Satz mehr.\n{{",
    )
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    # The recycle sequence uses the same template: its email reads differently too.
    assert [(t.sequence_id, t.step_id, t.locale, t.receivers) for t in plan.texts] == [
        ("b2b-nurture", "case-study", "de", 3),
        ("b2b-recycle", "case-study", "de", 0),
    ]
    diff = plan.texts[0]
    assert "-Hallo Max,\n+Hallo Neu: ein Satz mehr.\n+Max,\n" in diff.diff
    assert diff.diff.startswith("--- live/")
    assert not plan.unchanged
    # The sequence's steps did not change: only the text.
    [seq] = [s for s in plan.sequences if s.sequence_id == "b2b-nurture"]
    assert seq.status == "unchanged" and seq.affected == 0 and seq.active == 3


async def test_a_form_that_enrols_elsewhere(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    before = files(settings)
    edit(
        settings.config_dir / "forms/leitfaden.yaml",
        "sequences: [b2b-nurture]",
        "sequences: [b2b-nurture, b2b-recycle]",
    )
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    [form] = plan.forms
    assert (form.form_id, form.before, form.after) == (
        "leitfaden",
        ["b2b-nurture"],
        ["b2b-nurture", "b2b-recycle"],
    )


async def leads(settings, n: int, domain: str, click: bool) -> list[int]:
    """Confirmed leads with 30 fit points (senior title, size, DACH), and with a pricing
    click 58."""
    emails = await enrolled_leads(
        settings,
        n,
        MONDAY,
        domain=domain,
        job_title="CEO",
        country="DE",
        custom={"company_size": "50-199"},
    )
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = list((await session.scalars(select(Lead.id).where(Lead.email.in_(emails)))).all())
        await session.execute(update(Lead).where(Lead.id.in_(ids)).values(lifecycle_stage="lead"))
        if click:
            events = [
                {"lead_id": i, "type": "click", "occurred_at": MONDAY, "data": {"url": PRICING}}
                for i in ids
            ]
            await record_events(session, events)
    return ids


async def test_a_threshold_change_counts_who_would_cross_it_and_changes_nothing(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    await leads(settings, 2, "klick.de", click=True)  # 58: MQL at 50 already
    await leads(settings, 3, "fit.de", click=False)  # 30
    before = files(settings)
    scoring = settings.config_dir / "scoring.yaml"
    edit(scoring, "mql_threshold: 50", "mql_threshold: 25")
    url = settings.database_url.get_secret_value()
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(url, live, new, MONDAY)
    sc = plan.scoring
    assert sc is not None and sc.changes == ["MQL threshold 50 -> 25"]
    assert plan.other_files == []  # the scoring says how scoring.yaml differs
    assert (sc.qualify_live, sc.qualify_new, sc.crossing, sc.no_longer) == (2, 5, 3, 0)

    edit(scoring, "mql_threshold: 25", "mql_threshold: 60")
    live, new = sides(settings, before, tmp_path / "live2")
    plan = await build_plan(url, live, new, MONDAY)
    assert plan.scoring is not None
    assert (plan.scoring.qualify_new, plan.scoring.no_longer) == (0, 2)
    async with session_scope(url) as session:  # the trial scoring was rolled back
        assert await session.scalar(select(func.count()).select_from(LeadScore)) == 0
        stages = (await session.scalars(select(Lead.lifecycle_stage))).all()
    assert set(stages) == {"lead"}


async def test_a_sequence_the_live_side_lacks_is_forecast_for_its_enrollments(settings, tmp_path):
    # An older ref without b2b-recycle, while the database has leads under way in it.
    settings = project_copy(settings, tmp_path / "p")
    await enrolled_leads(settings, 3, MONDAY, sequence_id="b2b-recycle")
    older = files(settings)
    del older["config/sequences/b2b-recycle.yaml"]
    older["config/sales.yaml"] = older["config/sales.yaml"].replace(
        "recycle_sequence: b2b-recycle\n", ""
    )
    live, new = sides(settings, older, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    [seq] = [s for s in plan.sequences if s.sequence_id == "b2b-recycle"]
    assert (seq.status, seq.active, seq.affected) == ("added", 3, 3)
    [f] = seq.forecasts
    # The live config's dispatcher ends them when due; the new one sends every step.
    assert f.live == [Upcoming("problem", f.group.due, "sequence_removed")]
    assert [u.step_id for u in f.new] == RECYCLE_STEPS
    assert {i.fate for i in seq.impacts} == {Fate.NEW}
    text = plan_text(plan)
    assert "sequence b2b-recycle: added" in text and "no enrollments yet" not in text
    assert "in flight: 3 enrollment(s) with a touch waiting, 3 affected" in text


RECYCLE_STEPS = ["problem", "case-study", "comparison", "objections", "demo", "breakup"]


async def test_sequence_settings_policy_and_sales_changes_are_changes(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    before = files(settings)
    edit(
        settings.config_dir / "sequences/b2b-nurture.yaml",
        '  - event: custom.demo_booked  # a track call "Demo Booked" (website or CRM)\n',
        "",
    )
    (settings.config_dir / "policy.yaml").write_text("cap: {max: 2}\n", encoding="utf-8")
    edit(settings.config_dir / "sales.yaml", "remind_after: 4h", "remind_after: 2h")
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    assert not plan.unchanged
    [seq] = [s for s in plan.sequences if s.sequence_id == "b2b-nurture"]
    assert seq.status == "changed"
    [goals] = seq.changes
    assert (goals.change, goals.step_id, goals.field) == (Change.SETTING, None, "goals")
    assert "custom.demo_booked" in (goals.before or "")
    assert "custom.demo_booked" not in (goals.after or "")
    assert plan.settings["policy"] == ["cap.max: 3 -> 2"]
    assert plan.settings["sales"] == ["sla.remind_after: 4 hours -> 2 hours"]
    assert "signals" not in plan.settings
    text = plan_text(plan)
    assert (
        "  goals: [" in text and "contact policy (config/policy.yaml):\n  cap.max: 3 -> 2" in text
    )
    data = plan_json(plan)
    [seq_json] = [s for s in data["sequences"] if s["id"] == "b2b-nurture"]
    assert seq_json["changes"][0]["change"] == "setting"
    assert seq_json["changes"][0]["field"] == "goals"
    assert data["settings"]["policy"] == ["cap.max: 3 -> 2"]


async def test_an_html_only_edit_is_a_text_diff_that_says_so(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    before = files(settings)
    edit(
        settings.templates_dir / "email/b2b-nurture/02_problem.html.j2",
        "<p>{{ sender.name }}</p>",
        "<p><b>{{ sender.name }}</b></p>",
    )
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    assert not plan.unchanged
    assert [(t.sequence_id, t.step_id, t.html_changed) for t in plan.texts] == [
        ("b2b-nurture", "problem", True),
        ("b2b-recycle", "problem", True),
    ]
    assert plan.texts[0].diff == "(the text part reads the same; the HTML part changed)\n"
    assert plan_json(plan)["texts"][0]["html_changed"] is True


async def test_files_that_differ_without_a_forecastable_change_are_named(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    before = files(settings)
    edit(settings.config_dir / "sequences/b2b-nurture.yaml", "# Test fixture:", "# Fixture:")
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    assert not plan.unchanged
    assert plan.other_files == ["config/sequences/b2b-nurture.yaml"]
    text = plan_text(plan)
    assert "no changes" not in text and "  config/sequences/b2b-nurture.yaml" in text


async def test_no_session_is_open_while_rendering_and_scoring_has_its_own(
    settings, tmp_path, monkeypatch
):
    # On SQLite a session holds the database's write lock: the plan must not render in one.
    settings = project_copy(settings, tmp_path / "p")
    await enrolled_leads(settings, 2, MONDAY)
    before = files(settings)
    edit(settings.templates_dir / "email/b2b-nurture/03_case_study.txt.j2", "{{", "Neu {{")
    edit(settings.config_dir / "scoring.yaml", "mql_threshold: 50", "mql_threshold: 25")
    open_sessions: list[int] = []
    opened: list[str] = []

    @asynccontextmanager
    async def counting(url: str) -> AsyncIterator[AsyncSession]:
        async with session_scope(url) as session:
            open_sessions.append(1)
            opened.append(url)
            try:
                yield session
            finally:
                open_sessions.pop()

    rendered_in: list[int] = []
    real_text = build._text

    def text(*args: Any) -> tuple[str, str]:
        rendered_in.append(len(open_sessions))
        return real_text(*args)

    monkeypatch.setattr(build, "session_scope", counting)
    monkeypatch.setattr(build, "_text", text)
    live, new = sides(settings, before, tmp_path / "live")
    plan = await build_plan(settings.database_url.get_secret_value(), live, new, MONDAY)
    assert plan.texts and plan.scoring is not None
    assert rendered_in and set(rendered_in) == {0}
    assert len(opened) == 2  # the reads, then the trial scoring


async def test_the_steps_had_are_read_only_for_the_enrollments_forecast(settings, tmp_path):
    settings = project_copy(settings, tmp_path / "p")
    await enrolled_leads(settings, 2, MONDAY)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    url = settings.database_url.get_secret_value()
    engine = get_engine(url).sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with session_scope(url) as session:
            [group] = await groups(session, ["b2b-nurture"])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert group.enrollments == 2 and group.had == frozenset({"welcome"})
    [query] = [s for s in statements if "sends" in s and "GROUP BY" in s]
    # The aggregate over the touches is limited to the enrollments with a touch waiting.
    had = query[query.index("(SELECT") : query.index("GROUP BY")]
    assert "enrollment_id IN (SELECT" in " ".join(had.split()), query

"""The parts of a plan besides the forecast: emails whose text changes, forms that enrol
elsewhere, leads that would cross the MQL threshold — and that making a plan writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select, update

from nurture.db import session_scope
from nurture.leads.events import record_events
from nurture.leads.models import Lead, LeadScore
from nurture.plan.build import build_plan
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

"""Step conditions: Jinja expressions over the lead and what it did with the sequence's
emails, in the sandbox; a false condition skips the step and the drip goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from jinja2.exceptions import SecurityError
from sqlalchemy import select

from nurture.config.project import load_project
from nurture.config.sequences import SequenceConfig
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.events import EventType, MachineReason, event_row, record_events
from nurture.leads.models import Lead
from nurture.ledger.claims import next_due
from nurture.ledger.models import Enrollment, Touch
from nurture.sequences.conditions import Engagement, evaluate, load_engagement
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LEAD = {"email": "a@firma.de", "first_name": "Anna", "custom": {"company_size": "50-199"}}


def sequence(condition: str | None) -> SequenceConfig:
    return SequenceConfig.model_validate(
        {
            "id": "s",
            "name": "s",
            "sender": {"name": "S", "email": "s@example.com", "company": "C", "address": "A"},
            "steps": [
                {"id": "first", "template": "t", "subject": "1"},
                {"id": "second", "template": "t", "subject": "2", "condition": condition},
            ],
        }
    )


def holds(condition: str | None, hits=(), lead=LEAD) -> bool:
    return evaluate(sequence(condition), 1, lead, Engagement(hits))


def test_a_step_without_condition_is_always_sent():
    assert holds(None) is True


def test_clicked_and_opened_look_at_any_step_or_one_step():
    assert holds("not clicked()") is True
    assert holds("not clicked()", [("click", "first")]) is False
    assert holds("clicked('first')", [("click", "first")]) is True
    assert holds("clicked('second')", [("click", "first")]) is False
    assert holds("opened()", [("open", "first")]) is True
    assert holds("clicked()", [("open", "first")]) is False


def test_a_click_counts_as_an_open_because_images_may_be_blocked():
    assert holds("opened('first')", [("click", "first")]) is True


def test_previous_and_step_name_the_steps_around_the_condition():
    assert holds("not clicked(previous)", [("click", "first")]) is False
    assert holds("not clicked(previous)", [("click", "other")]) is True
    assert holds("step == 'second' and previous == 'first'") is True


def test_lead_fields_and_custom_fields_can_be_tested():
    assert holds("lead.custom.company_size != '1-19'") is True
    assert holds("lead.custom.company_size == '1-19'") is False
    assert holds("lead.first_name == '{{ 7*7 }}'", lead={**LEAD, "first_name": "{{ 7*7 }}"})


@pytest.mark.parametrize(
    "condition", ["lead.__class__.__mro__", "lead.custom.clear()", "opened.__globals__.keys()"]
)
def test_a_condition_cannot_reach_python_internals_or_change_the_lead(condition):
    with pytest.raises(SecurityError):
        holds(condition)
    assert LEAD["custom"] == {"company_size": "50-199"}


async def test_load_engagement_gets_opens_and_clicks_per_lead_and_sequence(settings):
    a, b = await enrolled_leads(settings, 2, MONDAY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = dict((await session.execute(select(Lead.email, Lead.id))).all())
        await record_events(
            session,
            [
                {
                    "lead_id": ids[a],
                    "type": "open",
                    "occurred_at": MONDAY,
                    "sequence_id": "b2b-nurture",
                    "step_id": "welcome",
                },
                {
                    "lead_id": ids[a],
                    "type": "click",
                    "occurred_at": MONDAY,
                    "sequence_id": "b2b-recycle",
                    "step_id": "problem",
                    "data": {"url": "u"},
                },
                {
                    "lead_id": ids[a],
                    "type": "sent",
                    "occurred_at": MONDAY,
                    "sequence_id": "b2b-nurture",
                    "step_id": "welcome",
                },
            ],
        )
        assert await load_engagement(session, set()) == {}
        found = await load_engagement(
            session, {(ids[a], "b2b-nurture"), (ids[a], "b2b-recycle"), (ids[b], "b2b-nurture")}
        )
    assert found[(ids[a], "b2b-nurture")].hits == [("open", "welcome")]
    assert found[(ids[a], "b2b-recycle")].hits == [("click", "problem")]
    assert found[(ids[b], "b2b-nurture")].hits == []


async def test_a_lead_that_entered_again_starts_with_no_engagement(settings):
    await enrolled_leads(settings, 1, MONDAY)
    later = MONDAY + timedelta(days=200)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_id = await session.scalar(select(Lead.id))
        await record_events(
            session,
            [
                event_row(
                    lead_id, EventType.CLICK, MONDAY, sequence_id="b2b-nurture", step_id="welcome"
                ),
                # its second entry (sequence.reenter), and a reply in it
                event_row(lead_id, EventType.ENROLLED, later, sequence_id="b2b-nurture", entry=2),
                event_row(
                    lead_id, EventType.REPLIED, later, sequence_id="b2b-nurture", step_id="welcome"
                ),
            ],
        )
        found = await load_engagement(session, {(lead_id, "b2b-nurture")})
    assert found[(lead_id, "b2b-nurture")].hits == [("replied", "welcome")]


async def test_a_false_condition_skips_the_step_and_the_enrollment_completes(settings):
    """The test project's last step, breakup, is only for leads who never clicked."""
    clicker, quiet, elsewhere = await enrolled_leads(settings, 3, MONDAY)
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ids = dict((await session.execute(select(Lead.email, Lead.id))).all())
        await record_events(
            session,
            [
                {
                    "lead_id": ids[clicker],
                    "type": "click",
                    "occurred_at": MONDAY,
                    "sequence_id": "b2b-nurture",
                    "step_id": "welcome",
                    "data": {"url": "u"},
                },
                # a click in another sequence's email says nothing about this one's
                {
                    "lead_id": ids[elsewhere],
                    "type": "click",
                    "occurred_at": MONDAY,
                    "sequence_id": "b2b-recycle",
                    "step_id": "problem",
                    "data": {"url": "u"},
                },
            ],
        )
    moment: datetime | None = MONDAY
    while moment is not None:
        await run_pass(build_dispatcher(settings, project), moment)
        async with session_scope(settings.database_url.get_secret_value()) as session:
            moment = await next_due(session, moment)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Lead.email, Touch.state, Touch.reason)
            .join(Touch, Touch.lead_id == Lead.id)
            .where(Touch.step_id == "breakup")
        )
        breakup = {email: (state, reason) for email, state, reason in rows.all()}
        enrollments = (await session.scalars(select(Enrollment))).all()
    assert breakup[clicker] == ("skipped", "condition_false")
    assert breakup[quiet][0] == breakup[elsewhere][0] == "sent"
    assert {(e.state, e.current_step) for e in enrollments} == {("completed", 7)}


async def test_conditions_see_a_persons_engagement_replies_and_page_views(settings):
    [a] = await enrolled_leads(settings, 1, MONDAY)
    seq = "b2b-nurture"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead.id).where(Lead.email == a))
        await record_events(
            session,
            [
                # a scanner's open and click: not the lead's
                event_row(
                    lead,
                    EventType.OPEN,
                    MONDAY,
                    sequence_id=seq,
                    step_id="welcome",
                    machine=MachineReason.AT_DELIVERY,
                ),
                event_row(
                    lead,
                    EventType.CLICK,
                    MONDAY,
                    sequence_id=seq,
                    step_id="welcome",
                    machine=MachineReason.HIDDEN_LINK,
                    url="u",
                ),
                event_row(
                    lead,
                    EventType.REPLIED,
                    MONDAY,
                    sequence_id=seq,
                    step_id="problem",
                    subject="Re: hello",
                    snippet="please call me",
                ),
                event_row(lead, EventType.PAGE, MONDAY, url="https://planwerk.example/Preise"),
            ],
        )
        [found] = (await load_engagement(session, {(lead, seq)})).values()
    assert not found.opened() and not found.clicked()
    assert found.replied() and found.replied("problem") and not found.replied("welcome")
    assert found.visited("/preise") and not found.visited("/demo")
    assert evaluate(sequence("replied() and visited('/preise')"), 1, {}, found)
    assert not evaluate(sequence("opened()"), 1, {}, found)

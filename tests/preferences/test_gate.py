"""The rule every dispatch pass applies: a paused lead's touches wait until the pause is over
and then go out; an opted-out topic's touches are skipped while another topic's go out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Lead
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.mail.transports import MemoryTransport
from nurture.preferences.service import PAUSE, TOPIC_OPTED_OUT, Choice, set_preferences
from tests.factories import enrolled_leads
from tests.preferences.project import NEWS, NURTURE, with_topics

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
BOTH = frozenset({NURTURE, NEWS})


def outbox(settings) -> list[str]:
    box = MemoryTransport.outboxes.get(settings.mail_url.get_secret_value().split("://")[1], [])
    return sorted(m.recipient for m in box)


async def choose(settings, email: str, wanted: frozenset[str], pause: bool, now: datetime):
    project = load_project(settings.config_dir)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead_id = await session.scalar(select(Lead.id).where(Lead.email == email))
        await set_preferences(session, project, [Choice(lead_id, BOTH, wanted, pause)], now, "page")


async def touches(settings) -> list[Touch]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        return list((await session.scalars(select(Touch).order_by(Touch.id))).all())


async def test_a_paused_leads_touch_waits_for_the_end_of_the_pause_then_goes_out(
    settings, tmp_path
):
    settings = with_topics(settings, tmp_path)
    paused, other = await enrolled_leads(settings, 2, MONDAY)
    await choose(settings, paused, BOTH, pause=True, now=MONDAY - timedelta(hours=1))
    report = await run_pass(build_dispatcher(settings), MONDAY)
    assert report.total("sent") == 1 and outbox(settings) == [other]
    # counted in the run's artifact as the contact policy's deferrals are, with its reason
    assert report.total("deferred") == 1 and report.deferred == {"paused": 1}
    welcome = next(t for t in await touches(settings) if t.step_id == "welcome" and not t.sent_at)
    # the pause ends Wednesday 23 Dec 09:00 Berlin time; welcome ignores the window: due at
    # the start of the next day there
    assert welcome.state == TouchState.SCHEDULED and welcome.claimed_by is None
    assert welcome.due_at == datetime(2026, 12, 23, 23, 0, tzinfo=UTC)
    end = MONDAY - timedelta(hours=1) + PAUSE
    await run_pass(build_dispatcher(settings), end + timedelta(hours=1))  # the other's step 2
    assert paused not in outbox(settings)
    after = await run_pass(build_dispatcher(settings), welcome.due_at)
    assert after.total("sent") == 1 and outbox(settings).count(paused) == 1


async def test_a_touch_deferred_by_a_pause_goes_out_in_its_send_window(settings, tmp_path):
    settings = with_topics(settings, tmp_path)
    [email] = await enrolled_leads(settings, 1, MONDAY)
    await run_pass(build_dispatcher(settings), MONDAY)  # welcome sent; problem due Wednesday
    await choose(settings, email, BOTH, pause=True, now=MONDAY + timedelta(hours=1))
    [_, problem] = await touches(settings)
    report = await run_pass(build_dispatcher(settings), problem.due_at)
    assert report.claimed == 1 and report.total("sent") == 0
    [_, problem] = await touches(settings)
    # the pause ends Wednesday 23 Dec: 08:30 Berlin on Thursday, when the window opens
    assert problem.due_at == datetime(2026, 12, 24, 7, 30, tzinfo=UTC)
    assert problem.state == TouchState.SCHEDULED
    assert (await run_pass(build_dispatcher(settings), problem.due_at)).total("sent") == 1


async def test_an_opted_out_topics_touches_are_skipped_while_another_topics_go_out(
    settings, tmp_path
):
    settings = with_topics(settings, tmp_path)
    [email] = await enrolled_leads(settings, 1, MONDAY - timedelta(days=1), sequence_id="news")
    await choose(settings, email, frozenset({NEWS}), pause=False, now=MONDAY - timedelta(hours=2))
    # enrolled again after opting out (a form post, a trigger): the opt-out still holds
    await enrolled_leads(settings, 1, MONDAY - timedelta(hours=1))
    report = await run_pass(build_dispatcher(settings), MONDAY)
    assert report.total("sent") == 1 and report.total("skipped") == 1
    sent = {t.sequence_id: (t.state, t.reason) for t in await touches(settings)}
    assert sent["b2b-nurture"] == (TouchState.SKIPPED, TOPIC_OPTED_OUT)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        drips = dict(
            (await session.execute(select(Enrollment.sequence_id, Enrollment.state))).all()
        )
        reason = await session.scalar(
            select(Enrollment.exit_reason).where(Enrollment.sequence_id == "b2b-nurture")
        )
    assert drips == {"news": EnrollmentState.ACTIVE, "b2b-nurture": EnrollmentState.EXITED}
    assert reason == TOPIC_OPTED_OUT


async def test_a_pause_holds_back_no_exempt_sequence(settings, tmp_path):
    """Transactional sequences (the contact policy's exempt_sequences) go out in a pause."""
    settings = with_topics(settings, tmp_path)
    (settings.config_dir / "policy.yaml").write_text("exempt_sequences: [news]\n")
    [email] = await enrolled_leads(settings, 1, MONDAY)
    await enrolled_leads(settings, 1, MONDAY, sequence_id="news")
    await choose(settings, email, BOTH, pause=True, now=MONDAY - timedelta(hours=1))
    report = await run_pass(build_dispatcher(settings), MONDAY)
    assert report.total("sent") == 1 and outbox(settings) == [email]
    states = {t.sequence_id: t.state for t in await touches(settings) if t.step_id == "welcome"}
    assert states == {"news": TouchState.SENT, "b2b-nurture": TouchState.SCHEDULED}

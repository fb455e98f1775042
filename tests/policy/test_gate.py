"""The gate through real dispatch passes, on SQLite and PostgreSQL: quiet days per country,
the cap, exempt sequences, priority pauses; deferred touches go out later, none dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from nurture.db import session_scope
from nurture.dispatch.outcome import OutcomeKind
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.leads.models import Lead
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from nurture.reporting.dispatch import outcome_rows, summary_text
from tests.factories import enrolled_leads
from tests.policy.projects import policy_settings, sequence_yaml

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
UNITY_DAY = datetime(2028, 10, 3, 9, 0, tzinfo=UTC)  # a Tuesday, a public holiday in DE only


@pytest.fixture
def smtp_settings(settings, smtp):
    return settings.model_copy(update={"mail_url": SecretStr(smtp.url)})


async def touches(settings, email: str) -> dict[str, tuple[str, datetime]]:
    """ "sequence/step" -> (state, due_at) of one lead's touches."""
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Touch.sequence_id, Touch.step_id, Touch.state, Touch.due_at)
            .join(Lead, Lead.id == Touch.lead_id)
            .where(Lead.email == email)
        )
        return {f"{s}/{step}": (state, due) for s, step, state, due in rows.all()}


async def test_a_public_holiday_of_the_leads_country_defers_to_the_next_day(
    smtp_settings, smtp, tmp_path
):
    policy = "quiet_days: {public_holidays: [DE, SE], default_country: DE}\n"
    s = policy_settings(smtp_settings, tmp_path, policy, {"a": sequence_yaml("a", ["0"])})
    [german] = await enrolled_leads(
        s, 1, UNITY_DAY, "a", domain="de.example", country="Deutschland"
    )
    [swede] = await enrolled_leads(s, 1, UNITY_DAY, "a", domain="se.example", country="Sverige")
    [unknown] = await enrolled_leads(s, 1, UNITY_DAY, "a", domain="xx.example")
    report = await run_pass(build_dispatcher(s), UNITY_DAY)
    assert report.total(OutcomeKind.SENT) == 1 and smtp.handler.to(swede)
    assert report.total(OutcomeKind.DEFERRED) == 2 and report.deferred == {"quiet_day": 2}
    wednesday = datetime(2028, 10, 4, 8, 30, tzinfo=BERLIN)
    for email in (german, unknown):  # no country: the default's holidays
        assert (await touches(s, email))["a/s1"] == (TouchState.SCHEDULED, wednesday)
    assert (await run_pass(build_dispatcher(s), UNITY_DAY + timedelta(hours=6))).claimed == 0
    later = await run_pass(build_dispatcher(s), wednesday)
    assert later.total(OutcomeKind.SENT) == 2 and smtp.handler.to(german)


async def test_marketer_dates_are_quiet_and_deferred_touches_are_reported(
    smtp_settings, smtp, tmp_path
):
    policy = "quiet_days: {dates: [2027-03-01]}\n"
    s = policy_settings(smtp_settings, tmp_path, policy, {"a": sequence_yaml("a", ["0"])})
    await enrolled_leads(s, 3, MONDAY, "a")
    report = await run_pass(build_dispatcher(s), MONDAY)
    assert report.total(OutcomeKind.DEFERRED) == 3 and not smtp.messages
    [row] = outcome_rows(report)
    assert (row["sequence"], row["step"], row[OutcomeKind.DEFERRED]) == ("a", "s1", 3)
    assert summary_text(report) == "3 deferred (quiet day 3)"
    tuesday = datetime(2027, 3, 2, 8, 30, tzinfo=BERLIN)
    assert (await run_pass(build_dispatcher(s), tuesday)).total(OutcomeKind.SENT) == 3


async def test_the_cap_across_sequences_defers_until_the_oldest_send_leaves_the_window(
    smtp_settings, smtp, tmp_path
):
    policy = "cap: {max: 2, per: 7d}\nquiet_days: {public_holidays: []}\n"
    sequences = {x: sequence_yaml(x, ["0"]) for x in ("a", "b", "c")}
    s = policy_settings(smtp_settings, tmp_path, policy, sequences)
    for x in sequences:
        [email] = await enrolled_leads(s, 1, MONDAY, x)
    report = await run_pass(build_dispatcher(s), MONDAY)
    assert report.total(OutcomeKind.SENT) == 2 and report.deferred == {"cap": 1}
    [(deferred, due)] = [v for v in (await touches(s, email)).values() if v[0] != "sent"]
    assert (deferred, due) == (TouchState.SCHEDULED, MONDAY + timedelta(days=7))
    assert (await run_pass(build_dispatcher(s), due - timedelta(minutes=1))).claimed == 0
    later = await run_pass(build_dispatcher(s), due)
    assert later.total(OutcomeKind.SENT) == 1 and len(smtp.handler.to(email)) == 3


async def test_exempt_sequences_are_neither_counted_nor_deferred(smtp_settings, smtp, tmp_path):
    policy = "cap: {max: 1, per: 7d}\nquiet_days: {public_holidays: []}\nexempt_sequences: [tx]\n"
    sequences = {"a": sequence_yaml("a", ["0", "1 day"]), "tx": sequence_yaml("tx", ["0", "1 day"])}
    s = policy_settings(smtp_settings, tmp_path, policy, sequences)
    await enrolled_leads(s, 1, MONDAY, "tx")
    [email] = await enrolled_leads(s, 1, MONDAY, "a")
    first = await run_pass(build_dispatcher(s), MONDAY)
    assert first.total(OutcomeKind.SENT) == 2  # tx/s1 did not count against a/s1
    second = await run_pass(build_dispatcher(s), MONDAY + timedelta(days=1))
    assert second.total(OutcomeKind.SENT) == 1 and second.deferred == {"cap": 1}
    state = await touches(s, email)
    assert state["tx/s2"][0] == TouchState.SENT
    assert state["a/s2"] == (TouchState.SCHEDULED, MONDAY + timedelta(days=7))


async def test_a_higher_priority_sequence_pauses_a_lower_one_until_it_ends(
    smtp_settings, smtp, tmp_path
):
    policy = "cap: {max: 10, per: 7d}\nquiet_days: {public_holidays: []}\n"
    sequences = {
        "high": sequence_yaml("high", ["0", "2 days"], priority=10),
        "low": sequence_yaml("low", ["0"]),
    }
    s = policy_settings(smtp_settings, tmp_path, policy, sequences)
    await enrolled_leads(s, 1, MONDAY, "high")
    [email] = await enrolled_leads(s, 1, MONDAY, "low")
    moment: datetime | None = MONDAY
    reasons: list[str] = []
    while moment is not None and moment < MONDAY + timedelta(days=14):
        report = await run_pass(build_dispatcher(s), moment)
        reasons += report.deferred.elements()
        moment = min(
            (
                due
                for state, due in (await touches(s, email)).values()
                if state == TouchState.SCHEDULED
            ),
            default=None,
        )
    state = await touches(s, email)
    assert all(v[0] == TouchState.SENT for v in state.values()), state
    assert reasons == ["priority"] * 3  # Monday, Tuesday, Wednesday (high/s2 goes Wednesday)
    async with session_scope(s.database_url.get_secret_value()) as session:
        high = await session.scalar(select(Enrollment).where(Enrollment.sequence_id == "high"))
        low_sent = await session.scalar(select(Touch.sent_at).where(Touch.sequence_id == "low"))
    assert high.state == EnrollmentState.COMPLETED and low_sent >= high.ended_at

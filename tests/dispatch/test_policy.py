"""The contact policy over real dispatch, on SQLite and PostgreSQL: no lead gets more than the
cap in any rolling window across three overlapping sequences over simulated weeks, nothing is
dropped, and dispatchers running at once never exceed the cap together."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from nurture.db import session_scope
from nurture.dispatch.outcome import OutcomeKind
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.ledger.claims import next_due
from nurture.ledger.models import Enrollment, EnrollmentState, Touch, TouchState
from tests.factories import enrolled_leads, touch_states
from tests.policy.projects import policy_settings, sequence_yaml

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
QUIET = datetime(2027, 3, 10).date()  # a Wednesday the marketer listed


@pytest.fixture
def smtp_settings(settings, smtp):
    return settings.model_copy(update={"mail_url": SecretStr(smtp.url)})


async def sends_per_lead(settings) -> dict[int, list[datetime]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        rows = await session.execute(
            select(Touch.lead_id, Touch.sent_at).where(Touch.state == TouchState.SENT)
        )
    sends: dict[int, list[datetime]] = defaultdict(list)
    for lead_id, sent_at in rows.all():
        sends[lead_id].append(sent_at)
    return sends


def most_in_any_window(sends: list[datetime], per: timedelta) -> int:
    """The most sends in any window [t, t + per): the worst window starts at a send."""
    times = sorted(sends)
    return max(sum(1 for s in times if t <= s < t + per) for t in times)


async def test_no_lead_gets_more_than_the_cap_in_any_window_across_three_sequences(
    smtp_settings, smtp, tmp_path
):
    policy = "cap: {max: 3, per: 7d}\nquiet_days: {public_holidays: [DE], dates: [2027-03-10]}\n"
    delays = {
        "a": ["0", "1 day", "1 day", "2 days", "1 day"],
        "b": ["0", "2 days", "2 days", "2 days"],
        "c": ["1 day", "1 day", "1 day", "1 day", "3 days"],
    }
    sequences = {x: sequence_yaml(x, d) for x, d in delays.items()}
    s = policy_settings(smtp_settings, tmp_path, policy, sequences)
    n = 12
    for sequence_id in sequences:
        await enrolled_leads(s, n, MONDAY, sequence_id, country="DE")
    url = s.database_url.get_secret_value()
    moment: datetime | None = MONDAY
    deferred = passes = 0
    while moment is not None:  # as `nurture tick --until`: a pass at each due time
        passes += 1
        assert passes < 500, "the simulation does not end"
        report = await run_pass(build_dispatcher(s), moment)
        deferred += report.total(OutcomeKind.DEFERRED)
        async with session_scope(url) as session:
            moment = await next_due(session, moment)
    assert deferred > 0  # the sequences alone would send 5 in the first 4 days
    steps = sum(len(d) for d in delays.values())
    assert await touch_states(s) == {TouchState.SENT: n * steps}  # none dropped
    async with session_scope(url) as session:
        states = set((await session.scalars(select(Enrollment.state))).all())
    assert states == {EnrollmentState.COMPLETED}
    sends = await sends_per_lead(s)
    assert len(sends) == n
    for times in sends.values():
        assert most_in_any_window(times, timedelta(days=7)) <= 3
        assert QUIET not in {t.astimezone(BERLIN).date() for t in times}
    assert len(smtp.messages) == n * steps


async def test_dispatchers_at_once_never_exceed_the_cap(smtp_settings, smtp, tmp_path):
    # Three touches per lead due at once, cap 2; small batches, so one lead's touches are in
    # different dispatchers' batches at the same time (PostgreSQL: SKIP LOCKED claims; the
    # lead rows locked in triage make the second count the first's claim).
    policy = "cap: {max: 2, per: 7d}\nquiet_days: {public_holidays: []}\n"
    sequences = {x: sequence_yaml(x, ["0"]) for x in ("a", "b", "c")}
    s = policy_settings(smtp_settings, tmp_path, policy, sequences)
    n = 40
    for i in range(n):  # a lead's three touches one after another in the claims' order
        for sequence_id in sequences:
            await enrolled_leads(s, 1, MONDAY, sequence_id, domain=f"l{i}.example")
    small = s.model_copy(update={"dispatch_batch_size": 2, "dispatch_chunk_size": 2})
    reports = await asyncio.gather(*(run_pass(build_dispatcher(small), MONDAY) for _ in range(3)))
    assert sum(r.total(OutcomeKind.SENT) for r in reports) == 2 * n
    assert sum(r.total(OutcomeKind.DEFERRED) for r in reports) == n
    assert all(len(times) == 2 for times in (await sends_per_lead(s)).values())
    # A week later the deferred ones go out: nothing was lost. (An hour on: a touch counted
    # while 'sending' is stamped with its dispatcher's clock, seconds after MONDAY.)
    later = await run_pass(build_dispatcher(s), MONDAY + timedelta(days=7, hours=1))
    assert later.total(OutcomeKind.SENT) == n
    assert await touch_states(s) == {TouchState.SENT: 3 * n}

"""Counting (human only), deciding the winner once, and only the winner after."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import select

from nurture.config.project import load_project
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.experiments.counts import VariantCounts, variant_counts
from nurture.experiments.decide import decide_experiments
from nurture.experiments.models import ExperimentWinner
from nurture.mail.transports import MemoryTransport
from tests.experiments.project import SEQ, history, project, recorded, subject
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WINNER = {"metric": "clicks", "after": 100, "confidence": 0.95}


async def test_counts_are_per_send_and_human_only(settings, tmp_path):
    s = project(settings, tmp_path)
    await enrolled_leads(s, 50, MONDAY, sequence_id=SEQ)
    # a: 30 sends, 12 opened, 4 clicked, 10 more clicked by a scanner; b: 20, 5, 3, 0
    await history(s, MONDAY, {"a": (30, 12, 4, 10), "b": (20, 5, 3, 0)})
    async with session_scope(s.database_url.get_secret_value()) as session:
        counts = await variant_counts(session, {(SEQ, "step0"), ("other", "x")})
    assert counts == {(SEQ, "step0"): {"a": VariantCounts(30, 12, 4), "b": VariantCounts(20, 5, 3)}}


async def decide(s, now=MONDAY):
    async with session_scope(s.database_url.get_secret_value()) as session:
        return await decide_experiments(session, load_project(s.config_dir), now)


async def test_no_winner_before_after_or_without_significance(settings, tmp_path):
    s = project(settings, tmp_path, winner=WINNER)
    await enrolled_leads(s, 400, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (200, 0, 10, 0), "b": (99, 0, 40, 0)})
    assert await decide(s) == []  # b is far better, but has 99 < 100 sends


async def test_not_significant_is_no_winner(settings, tmp_path):
    s = project(settings, tmp_path, winner=WINNER)
    await enrolled_leads(s, 400, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (200, 0, 10, 0), "b": (200, 0, 14, 0)})  # p = 0.40
    assert await decide(s) == []


async def test_the_winner_is_decided_exactly_once_by_two_at_once(settings, tmp_path):
    s = project(settings, tmp_path, winner=WINNER)
    await enrolled_leads(s, 400, MONDAY, sequence_id=SEQ)
    # b: 20 % human clicks against a's 5 % (and a's scanner clicks do not help it)
    await history(s, MONDAY, {"a": (150, 30, 8, 60), "b": (150, 40, 30, 0)})
    results = await asyncio.gather(decide(s), decide(s))
    made = [d for r in results for d in r]
    assert [(d.sequence_id, d.step_id, d.variant) for d in made] == [(SEQ, "step0", "b")]
    async with session_scope(s.database_url.get_secret_value()) as session:
        [row] = (await session.scalars(select(ExperimentWinner))).all()
    assert (row.variant, row.metric) == ("b", "clicks")
    assert row.stats["variants"]["a"] == {"sends": 150, "successes": 8}
    assert row.stats["variants"]["b"]["successes"] == 30
    assert 0 < row.stats["variants"]["b"]["p_value"] < 0.05
    assert await decide(s) == []  # decided: nothing more to decide


async def test_the_control_wins_when_better_than_every_other(settings, tmp_path):
    s = project(settings, tmp_path, winner=WINNER)
    await enrolled_leads(s, 400, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (150, 0, 30, 0), "b": (150, 0, 5, 0)})
    [decision] = await decide(s)
    assert decision.variant == "a"


async def test_only_the_winner_goes_out_after_the_decision(settings, tmp_path):
    s = project(settings, tmp_path, winner=WINNER).model_copy(
        update={"mail_url": SecretStr(f"memory://{uuid.uuid4().hex}")}
    )
    await enrolled_leads(s, 300, MONDAY, sequence_id=SEQ)
    await history(s, MONDAY, {"a": (150, 0, 5, 0), "b": (150, 0, 30, 0)})
    # 60 new leads; the pass decides first, then sends
    await enrolled_leads(s, 60, MONDAY, sequence_id=SEQ, domain="later.example")
    report = await run_pass(build_dispatcher(s), MONDAY + timedelta(hours=1))
    assert report.total("sent") == 60
    sent = MemoryTransport(s.mail_url.get_secret_value().removeprefix("memory://")).outbox
    variants = await recorded(s)
    assert Counter(subject(m) for m in sent) == {"Subject b": 60}
    assert Counter(variants[m.touch_id] for m in sent) == {"b": 60}

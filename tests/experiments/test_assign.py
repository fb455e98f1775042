"""Assignment: deterministic, by the weights; recorded in the claim's transaction before
SMTP, kept on a retry, a crash and edited weights; a removed variant gets the step."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from nurture.config.sequences import Variant
from nurture.db import session_scope
from nurture.dispatch.run import build_dispatcher, run_pass
from nurture.dispatch.triage import triage
from nurture.experiments.assign import pick
from nurture.ledger import claims
from nurture.mail.transports import MemoryTransport
from tests.experiments.project import SEQ, edit, project, recorded, subject
from tests.factories import enrolled_leads

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
AB = [Variant(id="a", weight=1), Variant(id="b", weight=3), Variant(id="never", weight=0)]


def test_pick_is_deterministic_per_lead_and_step():
    ids = [uuid.UUID(int=i).hex for i in range(200)]
    first = [pick(i, SEQ, "step0", AB) for i in ids]
    assert first == [pick(i, SEQ, "step0", AB) for i in ids]
    # another step (or sequence) is another draw: not the same split for every step
    assert first != [pick(i, SEQ, "step1", AB) for i in ids]
    assert first != [pick(i, "other", "step0", AB) for i in ids]


def test_pick_follows_the_weights_and_never_picks_weight_0():
    counts = Counter(pick(uuid.UUID(int=i).hex, SEQ, "step0", AB) for i in range(8000))
    assert set(counts) == {"a", "b"}
    # 1:3 -> 25 %; a binomial's sd over 8000 draws is 0.5 %, the bound is 4 of them
    assert 0.23 < counts["a"] / 8000 < 0.27


def test_pick_refuses_all_weights_0():
    with pytest.raises(ValueError, match="weight"):
        pick("x", SEQ, "step0", [Variant(id="a", weight=0), Variant(id="b", weight=0)])


def memory(settings):
    return settings.model_copy(update={"mail_url": SecretStr(f"memory://{uuid.uuid4().hex}")})


def outbox(settings):
    return MemoryTransport(settings.mail_url.get_secret_value().removeprefix("memory://")).outbox


async def test_each_lead_gets_the_subject_of_its_recorded_variant(settings, tmp_path):
    s = memory(project(settings, tmp_path))
    await enrolled_leads(s, 60, MONDAY, sequence_id=SEQ)
    report = await run_pass(build_dispatcher(s), MONDAY)
    assert report.total("sent") == 60
    variants = await recorded(s)
    sent = outbox(s)
    assert len(sent) == 60
    assert {m.touch_id: subject(m) for m in sent} == {
        t: f"Subject {variants[t]}" for t in (m.touch_id for m in sent)
    }
    assert set(Counter(variants[m.touch_id] for m in sent)) == {"a", "b"}


async def test_recorded_at_the_claim_so_a_crash_before_smtp_sends_the_same(settings, tmp_path):
    s = memory(project(settings, tmp_path))
    await enrolled_leads(s, 20, MONDAY, sequence_id=SEQ)
    d = build_dispatcher(s)
    # The claim's transaction as dispatch_batch runs it; then the process dies (no SMTP).
    async with session_scope(d.db_url) as session:
        ids = await claims.claim_due(session, "dead", MONDAY, 100, 60, MONDAY)
        batch = await triage(session, d.project, ids, MONDAY, "dead", MONDAY)
    before = await recorded(s)
    assert len(ids) == 20 and None not in before.values()
    assert {w.touch.id: w.variant for w in batch.work} == before
    # Meanwhile the marketer swaps the weights: a fresh draw would send only b.
    edit(
        s,
        variants=[
            {"id": "a", "weight": 0, "subject": "Subject a"},
            {"id": "b", "weight": 1, "subject": "Subject b"},
        ],
    )
    later = MONDAY + timedelta(minutes=5)  # the dead claim's lease has run out
    report = await run_pass(build_dispatcher(s), later)
    assert report.total("sent") == 20
    assert await recorded(s) == before
    assert {m.touch_id: subject(m) for m in outbox(s)} == {
        t: f"Subject {v}" for t, v in before.items()
    }
    assert "a" in before.values()  # the edit did not move the a's


async def test_a_retry_keeps_its_variant(settings, tmp_path, smtp):
    s = project(settings, tmp_path).model_copy(update={"mail_url": SecretStr(smtp.url)})
    [address] = await enrolled_leads(s, 1, MONDAY, sequence_id=SEQ)
    smtp.handler.behaviour.temporary_times[address] = 1
    first = await run_pass(build_dispatcher(s), MONDAY)
    assert first.total("retrying") == 1 and not smtp.messages
    [(touch_id, variant)] = (await recorded(s)).items()
    other = "b" if variant == "a" else "a"
    edit(
        s,
        variants=[
            {"id": variant, "weight": 0, "subject": f"Subject {variant}"},
            {"id": other, "weight": 1, "subject": f"Subject {other}"},
        ],
    )
    later = await run_pass(build_dispatcher(s), MONDAY + timedelta(hours=1))
    assert later.total("sent") == 1
    [message] = smtp.handler.to(address)
    assert message.parsed()["Subject"] == f"Subject {variant}"
    assert await recorded(s) == {touch_id: variant}


async def test_a_removed_variant_gets_the_step_itself(settings, tmp_path):
    s = memory(project(settings, tmp_path))
    await enrolled_leads(s, 30, MONDAY, sequence_id=SEQ)
    d = build_dispatcher(s)
    async with session_scope(d.db_url) as session:  # claimed and assigned, then a crash
        ids = await claims.claim_due(session, "dead", MONDAY, 100, 60, MONDAY)
        await triage(session, d.project, ids, MONDAY, "dead", MONDAY)
    before = await recorded(s)
    assert {"a", "b"} == set(before.values())
    edit(
        s,
        variants=[
            {"id": "a", "weight": 1, "subject": "Subject a"},
            {"id": "c", "weight": 1, "subject": "Subject c"},
        ],
    )
    await run_pass(build_dispatcher(s), MONDAY + timedelta(minutes=5))
    got = {m.touch_id: subject(m) for m in outbox(s)}
    assert got == {t: "Subject a" if v == "a" else "Step" for t, v in before.items()}
    assert await recorded(s) == before  # what was decided stays on the row

"""Scoring: fit and engagement rules, caps, decay, reset; set-based on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.config.scoring import ScoringConfig
from nurture.db import session_scope
from nurture.leads.events import record_events
from nurture.leads.models import Lead, LeadScore
from nurture.leads.service import upsert_leads
from nurture.scoring.score import breakdown, score_leads

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CONFIG = {
    "mql_threshold": 50,
    "half_life_days": None,
    "fit": [
        {"id": "senior", "field": "job_title", "contains": ["geschäftsführ", "ceo"], "points": 15},
        {"id": "size", "field": "custom.company_size", "in": ["50-199"], "points": 10},
        {"id": "dach", "field": "country", "in": ["de", "AT"], "points": 5},
        {"id": "free-mail", "field": "email_domain", "in": ["gmail.com"], "points": -15},
    ],
    "engagement": [
        {"id": "open", "event": "open", "points": 3, "cap": 15},
        {"id": "click", "event": "click", "points": 8},
        {"id": "pricing", "event": "click", "url_contains": ["/preise"], "points": 20},
    ],
}


async def make_lead(url: str, email: str, **values) -> int:
    async with session_scope(url) as session:
        [(lead, _)] = await upsert_leads(session, [(email, values, NOW, None)])
        return lead.id


async def events(url: str, lead_id: int, *items: tuple[str, datetime, dict]) -> None:
    async with session_scope(url) as session:
        await record_events(
            session,
            [
                {"lead_id": lead_id, "type": t, "occurred_at": at, "data": data}
                for t, at, data in items
            ],
        )


async def score(url: str, config: dict, at: datetime = NOW) -> None:
    async with session_scope(url) as session:
        await score_leads(session, ScoringConfig.model_validate(config), at)


async def total(url: str, lead_id: int) -> tuple[int, dict[str, float]]:
    async with session_scope(url) as session:
        b = await breakdown(session, lead_id)
    return b.total, {rule: round(points, 2) for rule, _, points in b.rules}


async def test_fit_and_engagement_rules_with_caps(db_url):
    ceo = await make_lead(
        db_url,
        "max@firma.de",
        job_title="Geschäftsführer",
        country="DE",
        custom={"company_size": "50-199"},
    )
    free = await make_lead(db_url, "someone@gmail.com", job_title="Student")
    await events(
        db_url,
        ceo,
        *[("open", NOW - timedelta(hours=i), {}) for i in range(10)],
        ("click", NOW, {"url": "https://planwerk.example/preise"}),
        ("click", NOW, {"url": "https://planwerk.example/kunden"}),
    )
    await score(db_url, CONFIG)
    assert await total(db_url, ceo) == (
        15 + 10 + 5 + 15 + 16 + 20,
        {"senior": 15, "size": 10, "dach": 5, "open": 15, "click": 16, "pricing": 20},
    )
    assert await total(db_url, free) == (-15, {"free-mail": -15})


async def test_engagement_decays_with_its_half_life(db_url):
    lead = await make_lead(db_url, "a@firma.de")
    await events(db_url, lead, ("click", NOW - timedelta(days=30), {"url": "x"}))
    config = {**CONFIG, "half_life_days": 30}
    await score(db_url, config)
    assert (await total(db_url, lead))[1] == {"click": pytest.approx(4.0, abs=0.01)}
    await score(db_url, config, NOW + timedelta(days=30))
    assert (await total(db_url, lead))[1] == {"click": pytest.approx(2.0, abs=0.01)}
    assert (await total(db_url, lead))[0] == 2
    # events after the scoring instant do not count yet
    await events(db_url, lead, ("click", NOW + timedelta(days=60), {"url": "x"}))
    await score(db_url, config, NOW + timedelta(days=30))
    assert (await total(db_url, lead))[0] == 2


async def test_scoring_is_reproducible_and_a_reset_drops_earlier_engagement(db_url):
    lead = await make_lead(db_url, "b@firma.de", country="AT")
    await events(
        db_url,
        lead,
        ("open", NOW - timedelta(days=2), {}),
        ("click", NOW - timedelta(days=1), {"url": "y"}),
    )
    await score(db_url, CONFIG)
    first = await total(db_url, lead)
    await score(db_url, CONFIG)
    assert await total(db_url, lead) == first == (16, {"dach": 5, "click": 8, "open": 3})
    async with session_scope(db_url) as session:
        row = await session.get(Lead, lead)
        row.score_reset_at = NOW - timedelta(days=1, hours=12)
    await score(db_url, CONFIG)
    assert await total(db_url, lead) == (13, {"dach": 5, "click": 8})


async def test_scoring_only_some_leads_leaves_the_others(db_url):
    a = await make_lead(db_url, "c@firma.de", country="DE")
    b = await make_lead(db_url, "d@firma.de", country="DE")
    await score(db_url, CONFIG)
    async with session_scope(db_url) as session:
        await score_leads(session, ScoringConfig.model_validate({**CONFIG, "fit": []}), NOW, [a])
        rules = set((await session.execute(select(LeadScore.lead_id, LeadScore.rule))).all())
    assert rules == {(b, "dach")}

"""Scoring: fit and engagement rules, caps, decay, reset; set-based on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.config.scoring import ScoringConfig
from nurture.db import session_scope
from nurture.leads.events import EventType, MachineReason, event_row, record_events
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


async def test_a_machines_opens_and_clicks_score_nothing_unless_a_rule_asks(db_url):
    lead = await make_lead(db_url, "gateway@firma.de")
    async with session_scope(db_url) as session:
        await record_events(
            session,
            [
                event_row(lead, EventType.OPEN, NOW, machine=MachineReason.AT_DELIVERY),
                event_row(lead, EventType.CLICK, NOW, machine=MachineReason.HIDDEN_LINK, url="x"),
                event_row(
                    lead, EventType.CLICK, NOW, machine=MachineReason.LINK_BURST, url="/preise"
                ),
                event_row(lead, EventType.OPEN, NOW),  # and one a person made
            ],
        )
    await score(db_url, CONFIG)
    assert await total(db_url, lead) == (3, {"open": 3})
    raw = {
        **CONFIG,
        "engagement": [{"id": "any-open", "event": "open", "points": 3, "machine": True}],
    }
    await score(db_url, raw)
    assert await total(db_url, lead) == (6, {"any-open": 6})


async def test_page_views_by_url_and_custom_events_by_property(db_url):
    lead = await make_lead(db_url, "visitor@firma.de")
    async with session_scope(db_url) as session:
        await record_events(
            session,
            [
                event_row(lead, EventType.PAGE, NOW, url="https://planwerk.example/Preise?x=1"),
                event_row(lead, EventType.PAGE, NOW, url="https://planwerk.example/blog"),
                event_row(lead, "custom.demo_booked", NOW, plan="Pro", seats=25, paid=True),
                event_row(lead, "custom.demo_booked", NOW, plan="free", seats=1, paid=False),
            ],
        )
    config = {
        **CONFIG,
        "engagement": [
            {"id": "pricing-page", "event": "page", "url_contains": ["/preise"], "points": 20},
            {"id": "any-page", "event": "page", "points": 1},
            {
                "id": "pro-demo",
                "event": "custom.demo_booked",
                "properties": {"plan": "pro"},
                "points": 30,
            },
            {
                "id": "big-demo",
                "event": "custom.demo_booked",
                "properties": {"seats": 25},
                "points": 5,
            },
            {
                "id": "paid-demo",
                "event": "custom.demo_booked",
                "properties": {"paid": True},
                "points": 7,
            },
        ],
    }
    await score(db_url, config)
    assert await total(db_url, lead) == (
        20 + 2 + 30 + 5 + 7,
        {"pricing-page": 20, "any-page": 2, "pro-demo": 30, "big-demo": 5, "paid-demo": 7},
    )


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"event": "open", "url_contains": ["/x"]}, "url_contains only applies"),
        ({"event": "click", "properties": {"a": "b"}}, "properties only apply"),
    ],
)
def test_filters_must_fit_the_event(rule, message):
    with pytest.raises(ValueError, match=message):
        ScoringConfig.model_validate(
            {"mql_threshold": 5, "engagement": [{"id": "r", "points": 1, **rule}]}
        )

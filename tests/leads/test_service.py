"""Lead services: one normalisation of addresses, upserts that never lose what a lead told us
before, and stage changes and suppressions that leave exactly one event. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.models import Event, Lead, SuppressionReason
from nurture.leads.service import (
    InvalidEmail,
    StageChange,
    change_stage,
    normalise_email,
    record_crm_stage,
    suppress,
    upsert_leads,
)
from nurture.leads.stages import Stage

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (" Max.Mustermann@Example.COM ", "max.mustermann@example.com"),
        ("anna@Bücher.de", "anna@xn--bcher-kva.de"),  # IDNA: the domain as DNS knows it
        ("ANNA@XN--BCHER-KVA.DE", "anna@xn--bcher-kva.de"),  # the same address, either way
    ],
)
def test_normalise_email_trims_lowercases_and_idna_encodes(raw, normalised):
    assert normalise_email(raw) == normalised


@pytest.mark.parametrize(
    "raw", ["kaputt", "a@b", "a@@b.de", '"a b"@example.com', "jürgen@example.de", ""]
)
def test_normalise_email_rejects_what_cannot_be_sent_to(raw):
    # Quoted and non-ASCII local parts need SMTPUTF8 or quoting most servers refuse.
    with pytest.raises(InvalidEmail):
        normalise_email(raw)


async def upsert(url: str, email: str, values: dict, at: datetime, first_touch=None):
    async with session_scope(url) as session:
        [(row, created)] = await upsert_leads(session, [(email, values, at, first_touch)])
    return row, created


async def lead(url: str, email: str) -> Lead:
    async with session_scope(url) as session:
        return await session.scalar(select(Lead).where(Lead.email == email))


async def events(url: str, lead_id: int) -> list[Event]:
    async with session_scope(url) as session:
        rows = await session.scalars(
            select(Event).where(Event.lead_id == lead_id).order_by(Event.id)
        )
        return list(rows.all())


async def test_upsert_creates_once_and_then_updates_the_same_lead(db_url):
    first, created = await upsert(db_url, "a@firma.de", {"first_name": "Anna"}, NOW)
    again, created_again = await upsert(db_url, "a@firma.de", {"first_name": "Anne"}, LATER)
    assert (created, created_again) == (True, False)
    assert again.id == first.id and again.public_id == first.public_id
    assert (again.first_name, again.created_at, again.updated_at) == ("Anne", NOW, LATER)
    assert first.lifecycle_stage == "subscriber" and len(first.public_id) == 32


async def test_upsert_never_blanks_a_field_filled_before(db_url):
    values = {
        "first_name": "Anna",
        "last_name": "Berg",
        "company": "Berg GmbH",
        "job_title": "CEO",
        "country": "DE",
        "timezone": "Europe/Vienna",
    }
    await upsert(db_url, "a@firma.de", values, NOW)
    # A later form without these fields, or with them left empty, changes nothing...
    await upsert(db_url, "a@firma.de", {"first_name": "", "company": None}, LATER)
    # ...and a field given anew replaces the old value.
    await upsert(db_url, "a@firma.de", {"job_title": "CTO"}, LATER)
    row = await lead(db_url, "a@firma.de")
    assert (
        row.first_name,
        row.last_name,
        row.company,
        row.job_title,
        row.country,
        row.timezone,
    ) == ("Anna", "Berg", "Berg GmbH", "CTO", "DE", "Europe/Vienna")


async def test_upsert_merges_custom_fields(db_url):
    await upsert(db_url, "a@firma.de", {"custom": {"company_size": "50-199", "team": "ops"}}, NOW)
    await upsert(
        db_url,
        "a@firma.de",
        {"custom": {"industry": "agency", "company_size": "", "team": "dev"}},
        LATER,
    )
    row = await lead(db_url, "a@firma.de")
    assert row.custom == {"company_size": "50-199", "team": "dev", "industry": "agency"}


async def test_upsert_keeps_the_first_touch_source(db_url):
    first = {
        "utm_source": "linkedin",
        "utm_medium": "paid",
        "utm_campaign": "q4",
        "referrer": "https://www.linkedin.com/",
        "source_form": "leitfaden",
    }
    later = {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": "brand",
        "referrer": "https://www.google.com/",
        "source_form": "webinar",
    }
    await upsert(db_url, "a@firma.de", {}, NOW, first)
    await upsert(db_url, "a@firma.de", {}, LATER, later)
    row = await lead(db_url, "a@firma.de")
    assert (row.utm_source, row.utm_medium, row.utm_campaign, row.referrer, row.source_form) == (
        "linkedin",
        "paid",
        "q4",
        "https://www.linkedin.com/",
        "leitfaden",
    )


async def test_upsert_does_not_move_a_lead_back_in_the_funnel(db_url):
    row, _ = await upsert(db_url, "a@firma.de", {}, NOW)
    async with session_scope(db_url) as session:
        await change_stage(session, Stage.MQL, [StageChange(row.id, row.lifecycle_stage)], NOW)
    again, _ = await upsert(db_url, "a@firma.de", {"first_name": "Anna"}, LATER)
    assert again.lifecycle_stage == "mql"


async def test_upsert_of_many_returns_each_lead_in_the_order_given(db_url):
    await upsert(db_url, "old@firma.de", {}, NOW)
    emails = ["c@firma.de", "old@firma.de", "a@firma.de", "b@firma.de"]
    async with session_scope(db_url) as session:
        rows = await upsert_leads(session, [(e, {"first_name": e[0]}, LATER, None) for e in emails])
    assert [(r.email, r.first_name, created) for r, created in rows] == [
        ("c@firma.de", "c", True),
        ("old@firma.de", "o", False),
        ("a@firma.de", "a", True),
        ("b@firma.de", "b", True),
    ]


async def test_change_stage_records_one_event_per_change(db_url):
    row, _ = await upsert(db_url, "a@firma.de", {}, NOW)
    async with session_scope(db_url) as session:
        subject = await session.get(Lead, row.id)

        async def move(stage: Stage, at: datetime, **data: str) -> int:
            change = StageChange(subject.id, subject.lifecycle_stage)
            return await change_stage(session, stage, [change], at, **data)

        assert await move(Stage.LEAD, NOW, via="confirmation") == 1
        assert subject.lifecycle_stage == Stage.LEAD  # the loaded lead sees the change
        assert await move(Stage.LEAD, LATER) == 0  # no change: no event
        assert await move(Stage.MQL, LATER) == 1
    assert (await lead(db_url, "a@firma.de")).lifecycle_stage == "mql"
    changes = [(e.type, e.occurred_at, e.data) for e in await events(db_url, row.id)]
    assert changes == [
        ("stage_changed", NOW, {"stage": "lead", "previous": "subscriber", "via": "confirmation"}),
        ("stage_changed", LATER, {"stage": "mql", "previous": "lead"}),
    ]


async def test_suppress_records_the_first_reason_once(db_url):
    row, _ = await upsert(db_url, "a@firma.de", {}, NOW)
    async with session_scope(db_url) as session:
        subject = await session.get(Lead, row.id)
        assert await suppress(session, {row.id: {}}, SuppressionReason.UNSUBSCRIBED, NOW) == [
            row.id
        ]
        assert subject.suppressed_at == NOW  # the loaded lead sees it
        # already suppressed: kept as it was, no second event
        assert await suppress(session, {row.id: {}}, SuppressionReason.BOUNCED, LATER) == []
    suppressed = await lead(db_url, "a@firma.de")
    assert (suppressed.suppressed_at, suppressed.suppression_reason) == (NOW, "unsubscribed")
    assert [(e.type, e.data) for e in await events(db_url, row.id)] == [
        ("suppressed", {"reason": "unsubscribed"})
    ]


async def test_a_crm_stage_is_recorded_with_its_value_each_time(db_url):
    row, _ = await upsert(db_url, "a@firma.de", {}, NOW)
    async with session_scope(db_url) as session:
        subject = await session.get(Lead, row.id)
        assert await record_crm_stage(session, subject, "opportunity", NOW, 5000, "api") == (
            "subscriber"
        )
        # The same stage again with a corrected value: recorded again (reports take the latest).
        assert await record_crm_stage(session, subject, "opportunity", LATER, 6000, "cli") == (
            "opportunity"
        )
        with pytest.raises(ValueError, match="stage must be one of"):
            await record_crm_stage(session, subject, "mql", LATER, None, "api")
    assert [e.data for e in await events(db_url, row.id)] == [
        {"stage": "opportunity", "previous": "subscriber", "value": 5000, "via": "api"},
        {"stage": "opportunity", "previous": "opportunity", "value": 6000, "via": "cli"},
    ]
    assert (await lead(db_url, "a@firma.de")).lifecycle_stage == "opportunity"


async def test_suppress_many_at_once_says_why_for_each(db_url):
    a, _ = await upsert(db_url, "a@firma.de", {}, NOW)
    b, _ = await upsert(db_url, "b@firma.de", {}, NOW)
    async with session_scope(db_url) as session:
        why = {a.id: {"reply": "550 no such user"}, b.id: {"reply": "550 mailbox gone"}}
        assert sorted(await suppress(session, why, SuppressionReason.BOUNCED, NOW)) == sorted(why)
    for row, reply in ((a, "550 no such user"), (b, "550 mailbox gone")):
        assert [(e.type, e.data) for e in await events(db_url, row.id)] == [
            ("suppressed", {"reason": "bounced", "reply": reply})
        ]

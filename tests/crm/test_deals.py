"""Deals from the CRM: POST/GET /api/leads/{lead_id}/deals, and `nurture leads deal`."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select, update

from nurture.crm.models import Deal
from nurture.db import session_scope
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Enrollment, EnrollmentState

KEY = {"authorization": "Bearer s3cret-key"}
BODY = {"deal_id": "D-100", "value": 1234.5, "currency": "EUR", "closed_on": "2027-01-15"}


async def new_lead(client, email: str = "kunde@firma.de") -> str:
    posted = await client.post(
        "/f/leitfaden", json={"email": email, "first_name": "K", "consent": True}
    )
    return posted.json()["lead_id"]


async def counts(settings) -> tuple[int, list[str], list[str]]:
    async with session_scope(settings.database_url.get_secret_value()) as session:
        deals = await session.scalar(select(func.count()).select_from(Deal))
        types = (await session.scalars(select(Event.type).order_by(Event.id))).all()
        stages = (
            await session.scalars(
                select(Event.data["stage"].as_string())
                .where(Event.type == "stage_changed")
                .order_by(Event.id)
            )
        ).all()
    return deals or 0, [t for t in types if t == "deal_recorded"], list(stages)


async def test_a_deal_makes_a_customer_and_a_replay_changes_nothing(api, settings):
    lead_id = await new_lead(api)
    path = f"/api/leads/{lead_id}/deals"
    first = await api.post(path, json=BODY, headers=KEY)
    assert first.status_code == 201
    assert first.json()["created"] is True
    assert first.json()["stage"] == "customer"
    assert first.json()["previous"] == "subscriber"
    assert first.json()["deal"]["value"] == 1234.5
    # the CRM's webhook again, even with another value: the deal id decides
    again = await api.post(path, json={**BODY, "value": 9999}, headers=KEY)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["deal"]["value"] == 1234.5
    deals, recorded, stages = await counts(settings)
    assert (deals, len(recorded), stages) == (1, 1, ["customer"])
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead))
        won = await session.scalar(select(Event.data).where(Event.type == "stage_changed"))
    assert lead.lifecycle_stage == "customer"
    assert (won["value"], won["via"]) == (1234.5, "api")


async def test_a_repeat_purchase_is_a_second_deal_and_no_second_stage_change(api, settings):
    lead_id = await new_lead(api)
    path = f"/api/leads/{lead_id}/deals"
    await api.post(path, json=BODY, headers=KEY)
    second = {**BODY, "deal_id": "D-200", "value": 300, "closed_on": "2027-03-01"}
    assert (await api.post(path, json=second, headers=KEY)).status_code == 201
    deals, recorded, stages = await counts(settings)
    assert (deals, len(recorded), stages) == (2, 2, ["customer"])
    listed = await api.get(path, headers=KEY)
    assert listed.status_code == 200
    assert [(d["deal_id"], d["value"]) for d in listed.json()["deals"]] == [
        ("D-100", 1234.5),
        ("D-200", 300.0),
    ]


async def test_one_deal_id_for_two_leads_is_two_deals(api, settings):
    a, b = await new_lead(api, "a@firma.de"), await new_lead(api, "b@firma.de")
    for lead_id in (a, b):
        assert (
            await api.post(f"/api/leads/{lead_id}/deals", json=BODY, headers=KEY)
        ).status_code == 201
    assert (await counts(settings))[0] == 2


async def test_errors_per_field_and_nothing_written(api, settings):
    lead_id = await new_lead(api)
    path = f"/api/leads/{lead_id}/deals"
    assert (await api.post(path, json=BODY)).status_code == 401
    assert (await api.get(path)).status_code == 401
    wrong = await api.post(path, json=BODY, headers={"authorization": "Bearer nope"})
    assert wrong.json()["detail"][0]["loc"] == ["header", "authorization"]
    missing = await api.post("/api/leads/nope/deals", json=BODY, headers=KEY)
    assert missing.status_code == 404
    assert missing.json()["detail"][0]["loc"] == ["path", "lead_id"]
    assert (await api.get("/api/leads/nope/deals", headers=KEY)).status_code == 404
    bad = {"deal_id": "", "value": -1, "currency": "euro", "closed_on": "15.01.2027"}
    refused = await api.post(path, json=bad, headers=KEY)
    assert refused.status_code == 422
    assert {e["loc"][-1] for e in refused.json()["detail"]} == {
        "deal_id",
        "value",
        "currency",
        "closed_on",
    }
    extra = await api.post(path, json={**BODY, "stage": "sql"}, headers=KEY)
    assert extra.status_code == 422
    assert await counts(settings) == (0, [], [])


async def test_two_first_deals_at_once_make_one_customer(api, settings):
    lead_id = await new_lead(api)
    path = f"/api/leads/{lead_id}/deals"
    bodies = [{**BODY, "deal_id": f"D-{i}"} for i in range(4)]
    answers = await asyncio.gather(*(api.post(path, json=b, headers=KEY) for b in bodies))
    assert [a.status_code for a in answers] == [201] * 4
    deals, recorded, stages = await counts(settings)
    assert (deals, len(recorded), stages) == (4, 4, ["customer"])


async def test_a_replay_after_sales_recycled_the_lead_leaves_its_stage(api, settings):
    lead_id = await new_lead(api)
    path = f"/api/leads/{lead_id}/deals"
    await api.post(path, json=BODY, headers=KEY)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        await session.execute(update(Lead).values(lifecycle_stage="recycled"))
    again = await api.post(path, json=BODY, headers=KEY)
    assert (again.json()["created"], again.json()["stage"]) == (False, "recycled")
    assert (await counts(settings))[2] == ["customer"]


async def test_a_first_deal_ends_the_nurture_in_the_same_request(api, settings):
    """A won deal makes a customer, and a customer gets no further nurture touch: its drips
    whose goal the stage reaches end before the dispatcher can claim their next touch."""
    lead_id = await new_lead(api)
    async with session_scope(settings.database_url.get_secret_value()) as session:
        live = (await session.scalars(select(Enrollment.state))).all()
    assert live and all(s != EnrollmentState.EXITED for s in live)
    assert (
        await api.post(f"/api/leads/{lead_id}/deals", json=BODY, headers=KEY)
    ).status_code == 201
    async with session_scope(settings.database_url.get_secret_value()) as session:
        ended = (await session.execute(select(Enrollment.state, Enrollment.exit_reason))).all()
    assert ended and all((s, r) == (EnrollmentState.EXITED, "goal_mql") for s, r in ended), ended

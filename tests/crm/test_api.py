"""The CRM API: later stages and deal values, behind a bearer key."""

from __future__ import annotations

from sqlalchemy import select

from nurture.db import session_scope
from nurture.leads.models import Event, Lead


async def new_lead(client) -> str:
    posted = await client.post(
        "/f/leitfaden", json={"email": "deal@firma.de", "first_name": "Dana", "consent": True}
    )
    return posted.json()["lead_id"]


async def test_stage_and_value_need_the_key_and_are_recorded(api, settings):
    lead_id = await new_lead(api)
    path = f"/api/leads/{lead_id}/stage"
    good = {"authorization": "Bearer s3cret-key"}
    body = {"stage": "opportunity", "value": 12500.5}
    assert (await api.post(path, json=body)).status_code == 401
    denied = await api.post(path, json=body, headers={"authorization": "Bearer wrong"})
    assert denied.status_code == 401
    assert denied.json()["detail"][0]["loc"] == ["header", "authorization"]
    assert (await api.post("/api/leads/nope/stage", json=body, headers=good)).status_code == 404
    bad = await api.post(path, json={"stage": "lead", "value": -1}, headers=good)
    assert bad.status_code == 422
    assert {e["loc"][-1] for e in bad.json()["detail"]} == {"stage", "value"}
    done = await api.post(path, json=body, headers=good)
    assert done.status_code == 200
    assert done.json() == {"lead_id": lead_id, "stage": "opportunity", "previous": "subscriber"}
    won = await api.post(path, json={"stage": "customer", "value": 13000}, headers=good)
    assert won.json()["previous"] == "opportunity"
    async with session_scope(settings.database_url.get_secret_value()) as session:
        lead = await session.scalar(select(Lead))
        values = (
            await session.scalars(
                select(Event.data).where(Event.type == "stage_changed").order_by(Event.id)
            )
        ).all()
    assert lead.lifecycle_stage == "customer"
    assert [(v["stage"], v["value"], v["via"]) for v in values] == [
        ("opportunity", 12500.5, "api"),
        ("customer", 13000, "api"),
    ]


async def test_without_a_configured_key_the_api_is_closed(app_client):
    lead_id = await new_lead(app_client)
    response = await app_client.post(
        f"/api/leads/{lead_id}/stage", json={"stage": "sql"}, headers={"authorization": "Bearer "}
    )
    assert response.status_code == 401

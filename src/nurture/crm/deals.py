"""HTTP API for CRMs: POST and GET /api/leads/{lead_id}/deals (bearer key NURTURE_API_KEY).

A won deal, the first or a repeat purchase; the CRM's deal id makes a replay harmless (201 the
first time, 200 with the stored deal after that).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from nurture.crm.models import Deal
from nurture.crm.service import DealIn, deals_of, record_deal
from nurture.db import session_scope, utcnow
from nurture.journeys.goals import apply_goals
from nurture.leads.service import find_by_public_id
from nurture.web.auth import bearer_authorised, unauthorised
from nurture.web.errors import ErrorsOut, error_response
from nurture.web.state import AppState, get_state

router = APIRouter(prefix="/api")

LeadId = Annotated[str, Path(max_length=64, description="The lead_id a form post returned")]


class DealBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="The CRM's id of the deal: the same id again changes nothing.",
    )
    value: float = Field(ge=0, le=1e12, allow_inf_nan=False, description="What was won.")
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR.")
    closed_on: date = Field(description="The day the deal was won (YYYY-MM-DD).")


class DealOut(BaseModel):
    deal_id: str
    value: float
    currency: str
    closed_on: date
    recorded_at: str


class DealRecordedOut(BaseModel):
    lead_id: str
    created: bool = Field(description="False: this deal id was recorded before; nothing changed.")
    stage: str = Field(description="The lead's stage now (customer).")
    previous: str
    deal: DealOut


class DealsOut(BaseModel):
    lead_id: str
    deals: list[DealOut]


def _out(deal: Deal) -> DealOut:
    return DealOut(
        deal_id=deal.external_id,
        value=float(deal.value),
        currency=deal.currency,
        closed_on=deal.closed_on,
        recorded_at=deal.recorded_at.isoformat(),
    )


_ERRORS = {401: {"model": ErrorsOut}, 404: {"model": ErrorsOut}, 422: {"model": ErrorsOut}}


@router.post(
    "/leads/{lead_id}/deals",
    status_code=201,
    response_model=DealRecordedOut,
    responses={200: {"model": DealRecordedOut, "description": "Recorded before"}, **_ERRORS},
    summary="Record a won deal (a repeat purchase, or the first: the lead becomes a customer)",
)
async def add_deal(
    lead_id: LeadId, body: DealBody, request: Request, state: AppState = Depends(get_state)
) -> JSONResponse:
    if not bearer_authorised(request, state.settings.api_key):
        return unauthorised()
    deal = DealIn(body.deal_id, body.value, body.currency, body.closed_on)
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        lead = await find_by_public_id(session, lead_id)
        if lead is None:
            return error_response(404, ["path", "lead_id"], "no such lead")
        now = utcnow()
        recorded = await record_deal(session, lead, deal, now, "api")
        # a first deal makes a customer: the drips whose goal that is end in this transaction
        await apply_goals(session, state.project(), now, [lead.id])
        out = DealRecordedOut(
            lead_id=lead_id,
            created=recorded.created,
            stage=recorded.stage,
            previous=recorded.previous_stage,
            deal=_out(recorded.deal),
        )
    return JSONResponse(out.model_dump(mode="json"), 201 if recorded.created else 200)


@router.get(
    "/leads/{lead_id}/deals",
    response_model=DealsOut,
    responses={401: {"model": ErrorsOut}, 404: {"model": ErrorsOut}},
    summary="The lead's deals, oldest first",
)
async def list_deals(
    lead_id: LeadId, request: Request, state: AppState = Depends(get_state)
) -> JSONResponse:
    if not bearer_authorised(request, state.settings.api_key):
        return unauthorised()
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        lead = await find_by_public_id(session, lead_id)
        if lead is None:
            return error_response(404, ["path", "lead_id"], "no such lead")
        deals = [_out(d) for d in await deals_of(session, lead.id)]
    return JSONResponse(DealsOut(lead_id=lead_id, deals=deals).model_dump(mode="json"))

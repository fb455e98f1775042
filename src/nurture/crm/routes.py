"""HTTP API for CRMs: POST /api/leads/{lead_id}/stage (bearer key from NURTURE_API_KEY)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from nurture.db import session_scope, utcnow
from nurture.journeys.goals import apply_goals
from nurture.leads.service import find_by_public_id, record_crm_stage
from nurture.leads.stages import Stage
from nurture.web.auth import bearer_authorised, unauthorised
from nurture.web.errors import ErrorsOut, error_response
from nurture.web.state import AppState, get_state

router = APIRouter(prefix="/api")


class StageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: Literal[Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER]
    value: float | None = Field(
        None, ge=0, le=1e12, allow_inf_nan=False, description="Deal value (pipeline or won)."
    )


class StageOut(BaseModel):
    lead_id: str
    stage: str
    previous: str


@router.post(
    "/leads/{lead_id}/stage",
    response_model=StageOut,
    responses={401: {"model": ErrorsOut}, 404: {"model": ErrorsOut}, 422: {"model": ErrorsOut}},
    summary="Record a later stage (SQL, opportunity, customer) and a deal value from a CRM",
)
async def set_stage(
    lead_id: Annotated[str, Path(max_length=64, description="The lead_id a form post returned")],
    body: StageIn,
    request: Request,
    state: AppState = Depends(get_state),
) -> JSONResponse:
    if not bearer_authorised(request, state.settings.api_key):
        return unauthorised()
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        lead = await find_by_public_id(session, lead_id)
        if lead is None:
            return error_response(404, ["path", "lead_id"], "no such lead")
        now = utcnow()
        previous = await record_crm_stage(session, lead, body.stage, now, body.value, "api")
        # in the same transaction: a customer gets no further nurture touch, not even one
        # the dispatcher would claim before the next scoring pass ends the drip
        await apply_goals(session, state.project(), now, [lead.id])
    return JSONResponse(StageOut(lead_id=lead_id, stage=body.stage, previous=previous).model_dump())

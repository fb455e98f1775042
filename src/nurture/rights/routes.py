"""The lead's rights for CRMs (bearer key from NURTURE_API_KEY): GET
/api/leads/{lead_id}/export, POST /api/leads/{lead_id}/forget."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from nurture.db import session_scope, utcnow
from nurture.rights.export import LeadExport, export_lead
from nurture.rights.find import PUBLIC_ID, find_lead
from nurture.rights.forget import forget_lead, scrub
from nurture.web.auth import bearer_authorised, unauthorised
from nurture.web.errors import ErrorsOut, error_response
from nurture.web.state import AppState, get_state

router = APIRouter(prefix="/api")

LeadId = Annotated[str, Path(max_length=64, description="The lead_id a form post returned")]
_ERRORS = {401: {"model": ErrorsOut}, 404: {"model": ErrorsOut}}


class ForgetOut(BaseModel):
    lead_id: str = Field(description="The anonymous record's id (unchanged).")
    forgotten_at: datetime
    already: bool = Field(description="Forgotten before: nothing changed now.")
    files_scrubbed: bool | None = Field(
        description="SQLite: the file was rewritten and its WAL emptied (false: call again "
        "to finish); null on PostgreSQL, where VACUUM is the operator's (docs/operations.md)."
    )


@router.get(
    "/leads/{lead_id}/export",
    response_model=LeadExport,
    responses=_ERRORS,
    summary="Everything held on a lead, as JSON (records an exported event)",
)
async def export(
    lead_id: LeadId, request: Request, state: AppState = Depends(get_state)
) -> Response:
    if not bearer_authorised(request, state.settings.api_key):
        return unauthorised()
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        lead = await find_lead(session, lead_id) if PUBLIC_ID.match(lead_id) else None
        if lead is None:
            return error_response(404, ["path", "lead_id"], "no such lead")
        document = await export_lead(session, lead, utcnow(), "api")
    return Response(document.model_dump_json(), media_type="application/json")


@router.post(
    "/leads/{lead_id}/forget",
    response_model=ForgetOut,
    responses=_ERRORS,
    summary="Erase the lead's personal data everywhere; an anonymous record stays",
)
async def forget(
    lead_id: LeadId, request: Request, state: AppState = Depends(get_state)
) -> JSONResponse:
    if not bearer_authorised(request, state.settings.api_key):
        return unauthorised()
    url = state.settings.database_url.get_secret_value()
    async with session_scope(url) as session:
        lead = await find_lead(session, lead_id, lock=True) if PUBLIC_ID.match(lead_id) else None
        if lead is None:
            return error_response(404, ["path", "lead_id"], "no such lead")
        done = await forget_lead(
            session, lead, state.settings.resolved_secret_key(), utcnow(), "api"
        )
    scrubbed = await scrub(url) if url.startswith("sqlite") else None
    body = ForgetOut(
        lead_id=done.public_id,
        forgotten_at=done.forgotten_at,
        already=done.already,
        files_scrubbed=None if scrubbed is None else scrubbed.complete,
    )
    return JSONResponse(body.model_dump(mode="json"))

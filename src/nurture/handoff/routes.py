"""HTTP: the rep's answer. GET /s/{token}/accept and /reject show a page with a button (mail
scanners follow links: a GET changes nothing); the POST records the answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from nurture.db import session_scope, utcnow
from nurture.handoff.models import Handoff, HandoffState
from nurture.handoff.service import HandoffClosed, respond
from nurture.leads.models import Lead
from nurture.tokens import InvalidToken
from nurture.web.state import AppState, get_state

router = APIRouter()

_CLOSED = {
    HandoffState.ACCEPTED: "Diese Übergabe wurde bereits angenommen.",
    HandoffState.REJECTED: "Diese Übergabe wurde bereits abgelehnt.",
    HandoffState.REASSIGNED: (
        "Diese Übergabe ist abgelaufen und ging an eine Kollegin oder einen Kollegen."
    ),
}


def _handoff_id(state: AppState, token: str) -> int | None:
    try:
        return state.links.read_handoff(token)
    except InvalidToken:
        return None


def _gone(state: AppState) -> HTMLResponse:
    return state.pages.message("Link ungültig", "Dieser Link ist ungültig.", 404)


@router.get("/s/{token}/{action}", include_in_schema=False)
async def answer_page(token: str, action: str, state: AppState = Depends(get_state)):
    handoff_id = _handoff_id(state, token)
    if handoff_id is None or action not in ("accept", "reject"):
        return _gone(state)
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        handoff = await session.get(Handoff, handoff_id)
        lead = await session.get(Lead, handoff.lead_id) if handoff else None
    if handoff is None or lead is None:
        return _gone(state)
    if handoff.state != HandoffState.PENDING:
        return state.pages.message("Schon erledigt", _CLOSED[handoff.state], 409)
    sales = state.project().sales
    return state.pages.render(
        "handoff.html.j2",
        action=action,
        handoff=handoff,
        lead=lead,
        reasons=sales.reject_reasons if sales else {},
        errors={},
    )


@router.post("/s/{token}/{action}", include_in_schema=False)
async def answer(token: str, action: str, request: Request, state: AppState = Depends(get_state)):
    handoff_id = _handoff_id(state, token)
    if handoff_id is None or action not in ("accept", "reject"):
        return _gone(state)
    project = state.project()
    reasons = project.sales.reject_reasons if project.sales else {}
    form = await request.form()
    reason = str(form.get("reason") or "")
    note = str(form.get("note") or "").strip()[:1000] or None
    if action == "reject" and reason not in reasons:
        async with session_scope(state.settings.database_url.get_secret_value()) as session:
            handoff = await session.get(Handoff, handoff_id)
            lead = await session.get(Lead, handoff.lead_id) if handoff else None
        if handoff is None or lead is None:
            return _gone(state)
        return state.pages.render(
            "handoff.html.j2",
            422,
            action=action,
            handoff=handoff,
            lead=lead,
            reasons=reasons,
            errors={"reason": "Bitte wählen Sie einen Grund."},
        )
    try:
        async with session_scope(state.settings.database_url.get_secret_value()) as session:
            await respond(
                session, project, handoff_id, action == "accept", utcnow(), reason or None, note
            )
    except LookupError:
        return _gone(state)
    except HandoffClosed as exc:
        return state.pages.message("Schon erledigt", _CLOSED[exc.state], 409)
    if action == "accept":
        return state.pages.message("Angenommen", "Danke! Der Lead gehört jetzt Ihnen (SQL).")
    return state.pages.message(
        "Abgelehnt", "Danke für die Rückmeldung. Der Lead geht zurück ins Nurturing."
    )

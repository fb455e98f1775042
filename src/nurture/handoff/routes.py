"""HTTP: the rep's answer. GET /s/{token}/accept and /reject show a page with a button (mail
scanners follow links: a GET changes nothing); the POST records the answer."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from nurture.db import session_scope, utcnow
from nurture.handoff.models import Handoff, HandoffState
from nurture.handoff.notify import rep_facing_locale
from nurture.handoff.service import HandoffClosed, respond
from nurture.leads.models import Lead
from nurture.locales.catalog import N_, translate
from nurture.tokens import InvalidToken
from nurture.web.state import AppState, get_state

router = APIRouter()

_CLOSED = {
    HandoffState.ACCEPTED: N_("This hand-off has already been accepted."),
    HandoffState.REJECTED: N_("This hand-off has already been rejected."),
    HandoffState.REASSIGNED: N_("This hand-off expired and went to a colleague."),
}
_DONE = N_("Already done")


def _locale(state: AppState, handoff: Handoff | None, lead: Lead | None) -> str:
    """The rep's locale (sales.yaml), else the lead's, else the project's default."""
    project = state.project()
    lead_locale = (lead.locale if lead else None) or project.locales[0]
    return rep_facing_locale(project.sales, handoff.rep_email if handoff else None, lead_locale)


def _handoff_id(state: AppState, token: str) -> int | None:
    try:
        return state.links.read_handoff(token)
    except InvalidToken:
        return None


def _gone(state: AppState, request: Request) -> HTMLResponse:
    return state.pages.message(
        state.browser_locale(request), N_("Invalid link"), N_("This link is invalid."), 404
    )


@router.get("/s/{token}/{action}", include_in_schema=False)
async def answer_page(
    token: str, action: str, request: Request, state: AppState = Depends(get_state)
):
    handoff_id = _handoff_id(state, token)
    if handoff_id is None or action not in ("accept", "reject"):
        return _gone(state, request)
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        handoff = await session.get(Handoff, handoff_id)
        lead = await session.get(Lead, handoff.lead_id) if handoff else None
    if handoff is None or lead is None:
        return _gone(state, request)
    locale = _locale(state, handoff, lead)
    if handoff.state != HandoffState.PENDING:
        return state.pages.message(locale, _DONE, _CLOSED[handoff.state], 409)
    sales = state.project().sales
    return state.pages.render(
        "handoff.html.j2",
        locale=locale,
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
        return _gone(state, request)
    project = state.project()
    reasons = project.sales.reject_reasons if project.sales else {}
    form = await request.form()
    reason = str(form.get("reason") or "")
    note = str(form.get("note") or "").strip()[:1000] or None
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        handoff = await session.get(Handoff, handoff_id)
        lead = await session.get(Lead, handoff.lead_id) if handoff else None
    locale = _locale(state, handoff, lead)
    if action == "reject" and reason not in reasons:
        if handoff is None or lead is None:
            return _gone(state, request)
        return state.pages.render(
            "handoff.html.j2",
            422,
            locale=locale,
            action=action,
            handoff=handoff,
            lead=lead,
            reasons=reasons,
            errors={"reason": translate(locale, N_("Please choose a reason."))},
        )
    try:
        async with session_scope(state.settings.database_url.get_secret_value()) as session:
            await respond(
                session, project, handoff_id, action == "accept", utcnow(), reason or None, note
            )
    except LookupError:
        return _gone(state, request)
    except HandoffClosed as exc:
        return state.pages.message(locale, _DONE, _CLOSED[exc.state], 409)
    if action == "accept":
        return state.pages.message(
            locale, N_("Accepted"), N_("Thank you! The lead is yours now (SQL).")
        )
    return state.pages.message(
        locale, N_("Rejected"), N_("Thanks for the feedback. The lead goes back to nurturing.")
    )

"""HTTP: GET /n/{token} (the score a link carries, and a button), POST /n/{token} (the
person's press: records the score), GET /ref/{token} (a referral link: to the referral form's
landing page, the token carried along in a hidden field).

GETs (and HEADs, which link checkers send) record nothing: mail scanners and link previews
fetch every link of an email."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from nurture.config.forms import REFERRAL_FIELD
from nurture.db import session_scope, utcnow
from nurture.leads.models import Lead
from nurture.links import NpsScore
from nurture.locales.catalog import N_
from nurture.locales.codes import resolve
from nurture.loyalty.service import (
    COMMENT_MAX,
    Scorer,
    clean_comment,
    latest_answer,
    record_score,
    referral_form,
    scorer,
)
from nurture.tokens import InvalidToken
from nurture.web.state import AppState, get_state

router = APIRouter()

_BAD = (N_("Invalid link"), N_("This link is invalid."))


def _locale(state: AppState, who: Scorer, lead: Lead | None) -> str:
    """The lead's locale, by the chain of the sequence whose email linked here."""
    project = state.project()
    sequence = project.sequences.get(who.sequence_id) if who.sequence_id else None
    locale = lead.locale if lead else None
    return resolve(locale, sequence.locales if sequence else project.locales)


def _link(state: AppState, token: str) -> NpsScore | None:
    try:
        return state.links.read_nps(token)
    except InvalidToken:
        return None


@router.api_route("/n/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def nps_page(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    link = _link(state, token)
    if link is None:
        return state.pages.message(state.browser_locale(request), *_BAD, 404)
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        who = await scorer(session, link)
        before = await latest_answer(session, who) if who else None
        lead = await session.get(Lead, who.lead_id) if who else None
    if who is None:  # signed by us, but the send or lead is gone
        return state.pages.message(state.browser_locale(request), *_BAD, 404)
    answered = before[0] if before and before[0] != link.score else None
    return state.pages.render(
        "nps.html.j2",
        locale=_locale(state, who, lead),
        score=link.score,
        answered=answered,
        action=f"/n/{token}",
        comment_max=COMMENT_MAX,
    )


@router.post("/n/{token}", include_in_schema=False)
async def nps_answer(token: str, request: Request, state: AppState = Depends(get_state)):
    link = _link(state, token)
    if link is None:
        return state.pages.message(state.browser_locale(request), *_BAD, 404)
    comment = clean_comment((await request.form()).get("comment"))
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        who = await scorer(session, link)
        lead = await session.get(Lead, who.lead_id) if who else None
        if who is not None:
            await record_score(session, who, link.score, comment, utcnow())
    if who is None:
        return state.pages.message(state.browser_locale(request), *_BAD, 404)
    return state.pages.message(
        _locale(state, who, lead),
        N_("Thank you for your rating"),
        N_("Your rating (%(score)s out of 10) has arrived."),
        score=link.score,
    )


@router.api_route("/ref/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def referral(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    locale = state.browser_locale(request)
    try:
        state.links.read_referral(token)
    except InvalidToken:
        return state.pages.message(locale, *_BAD, 404)
    form = referral_form(state.project())
    if form is None:
        return state.pages.message(
            locale, N_("Not found"), N_("There is no referral page here."), 404
        )
    # The token itself goes along (the landing page carries it in a hidden field and capture
    # reads it again): a referrer's id that anyone could edit in the URL would credit anyone.
    query = urlencode({REFERRAL_FIELD: token, "utm_source": "referral", "utm_medium": "referral"})
    return RedirectResponse(f"/f/{form.id}?{query}", status_code=303)

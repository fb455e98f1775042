"""HTTP: GET /o/{token} (open pixel), GET /r/{token} (click redirect), GET /u/{token}
(the preference page behind the unsubscribe link), POST /u/{token} (its forms: topics and a
pause, or unsubscribe from everything; and RFC 8058 one-click).

Opens and clicks answer HEAD too: a link checker that gets no redirect flags the mail. Every
hit is recorded with its verdict, and a machine gets the same answer as a person."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from nurture.db import session_scope, utcnow
from nurture.leads.events import EventType, MachineReason
from nurture.leads.models import Lead, SuppressionReason
from nurture.leads.service import find_by_public_id, mask_email
from nurture.ledger.models import Touch
from nurture.links import SendUnsubscribe
from nurture.locales.catalog import N_
from nurture.locales.codes import resolve
from nurture.preferences.service import (
    Choice,
    Preferences,
    preferences_of,
    set_preferences,
    topic_labels,
    topics,
)
from nurture.tokens import InvalidToken
from nurture.tracking.engagement import record_engagement
from nurture.tracking.unsubscribe import unsubscribe
from nurture.verdict.machines import machines_for
from nurture.visitors.service import COOKIE, click_visit, join_clicks, set_cookie
from nurture.web.state import AppState, Writer, client_ip, get_state

router = APIRouter()


async def _record_hits(
    state: AppState, session: AsyncSession, hits: list[dict[str, Any]]
) -> list[None]:
    """A batch of opens and clicks, and the browsers a person's clicks join to the lead, in
    one transaction (one commit per batch, not two)."""
    # copies: a batch retried after a failed commit is written again from the same items
    engagement = [{k: v for k, v in h.items() if k != "visit"} for h in hits]
    await record_engagement(session, engagement, state.project().signals.engagement)
    await join_clicks(session, [h["visit"] for h in hits if h.get("visit") is not None])
    return [None] * len(hits)


# Opens and clicks arrive in bursts (an email to thousands): written in group commits.
HITS: Writer[dict[str, Any], None] = Writer("engagement", _record_hits)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


def _request_verdict(state: AppState, request: Request) -> MachineReason | None:
    machines = machines_for(state.project().signals.engagement.machines)
    return machines.judge(request.method, request.headers.get("user-agent"), client_ip(request))


@router.api_route("/o/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def open_pixel(
    token: str, request: Request, state: AppState = Depends(get_state)
) -> Response:
    try:
        touch_id = state.links.read_open(token)
    except InvalidToken:
        return Response(status_code=404)
    hit = {
        "touch_id": touch_id,
        "type": EventType.OPEN,
        "occurred_at": utcnow(),
        "machine": _request_verdict(state, request),
        "data": {},
    }
    await state.writer(HITS).submit(hit)
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.api_route("/r/{token}", methods=["GET", "HEAD"], include_in_schema=False)
async def click(token: str, request: Request, state: AppState = Depends(get_state)) -> Response:
    try:
        link = state.links.read_click(token)
    except InvalidToken:
        return state.pages.message(
            state.browser_locale(request), N_("Invalid link"), N_("This link is invalid."), 404
        )
    machine = MachineReason.HIDDEN_LINK if link.hidden else _request_verdict(state, request)
    # The hidden link leads somewhere harmless: a scanner that gets no redirect flags the mail.
    url = link.url or f"{state.settings.base_url}/"
    at = utcnow()
    # A machine's click (judged by the request) neither joins the browser nor gets a cookie.
    visit = click_visit(request.cookies.get(COOKIE), link.touch_id, human=machine is None, at=at)
    hit = {
        "touch_id": link.touch_id,
        "type": EventType.CLICK,
        "occurred_at": at,
        "machine": machine,
        "data": {"url": url, "hidden": True} if link.hidden else {"url": url},
        "visit": visit,
    }
    await state.writer(HITS).submit(hit)
    response = RedirectResponse(url, status_code=302, headers=_NO_STORE)
    if visit is not None:
        set_cookie(response, visit.anonymous_id, state.settings.tracking_cookie_domain)
    return response


_GONE = (N_("Invalid link"), N_("This unsubscribe link is invalid."))


def _locale(state: AppState, lead: Lead, found: tuple[str, tuple[str, str] | None] | None) -> str:
    """The page's locale: the lead's, by the chain of the sequence whose email linked here
    (the language that email was in), else by the project's."""
    project = state.project()
    sequence = project.sequences.get(found[1][0]) if found and found[1] else None
    return resolve(lead.locale, sequence.locales if sequence else project.locales)


async def _subject(state: AppState, token: str) -> tuple[str, tuple[str, str] | None] | None:
    """Whom an unsubscribe token is for: (lead public id, the (sequence, step) of the send it
    names, if it names one ("t" + hex id) rather than the lead)."""
    try:
        link = state.links.read_unsubscribe(token)
    except InvalidToken:
        return None
    if not isinstance(link, SendUnsubscribe):
        return link.public_id, None
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        row = (
            await session.execute(
                select(Lead.public_id, Touch.sequence_id, Touch.step_id)
                .join(Touch, Touch.lead_id == Lead.id)
                .where(Touch.id == link.touch_id)
            )
        ).one_or_none()
    return (row.public_id, (row.sequence_id, row.step_id)) if row else None


@router.get("/u/{token}", include_in_schema=False)
async def unsubscribe_page(token: str, request: Request, state: AppState = Depends(get_state)):
    """The preference page. A GET changes nothing: mail scanners fetch every link."""
    found = await _subject(state, token)
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        lead = await find_by_public_id(session, found[0]) if found else None
        held = await preferences_of(session, [lead.id], utcnow()) if lead else {}
    if lead is None:
        return state.pages.message(state.browser_locale(request), *_GONE, status_code=404)
    return _page(state, lead, held[lead.id], _locale(state, lead, found), action=f"/u/{token}")


@router.post("/u/{token}", include_in_schema=False)
async def unsubscribe_post(token: str, request: Request, state: AppState = Depends(get_state)):
    """The page's forms and RFC 8058 one-click. The signed token in the path is the credential
    (no session, no cookie to forge a request with). Without ``choice=preferences`` (the
    page's "Ja, abmelden" button, one-click, the page before the preferences existed): from
    everything at once."""
    found = await _subject(state, token)
    form = await request.form()
    one_click = form.get("List-Unsubscribe") == "One-Click"
    if not one_click and form.get("choice") == "preferences":
        return await _save_preferences(state, request, found, form, f"/u/{token}")
    lead = None
    if found:
        async with session_scope(state.settings.database_url.get_secret_value()) as session:
            lead = await unsubscribe(
                session, found[0], utcnow(), "one_click" if one_click else "page", found[1]
            )
    if lead is None:
        return state.pages.message(state.browser_locale(request), *_GONE, status_code=404)
    if one_click:  # a mail client, not a person: no page needed
        return PlainTextResponse("unsubscribed")
    return _page(state, lead, Preferences(), _locale(state, lead, found), action="", done=True)


async def _save_preferences(
    state: AppState,
    request: Request,
    found: tuple[str, tuple[str, str] | None] | None,
    form: FormData,
    action: str,
) -> Response:
    project = state.project()
    # Only topics of the config count: the form is the lead's browser's, anything may come.
    offered = frozenset(str(t) for t in form.getlist("offered")) & set(topics(project))
    wanted = frozenset(str(t) for t in form.getlist("topic")) & offered
    now = utcnow()  # the wall clock: "for 30 days" counts from the click
    async with session_scope(state.settings.database_url.get_secret_value()) as session:
        lead = await find_by_public_id(session, found[0]) if found else None
        if lead is None:
            return state.pages.message(state.browser_locale(request), *_GONE, status_code=404)
        pause = form.get("pause") == "30d"
        choice = Choice(lead.id, offered, wanted, pause, sent=found[1] if found else None)
        await set_preferences(session, project, [choice], now, via="page")
        held = await preferences_of(session, [lead.id], now)
    locale = _locale(state, lead, found)
    return _page(state, lead, held[lead.id], locale, action=action, saved=True)


def _page(
    state: AppState,
    lead: Lead,
    held: Preferences,
    locale: str,
    action: str,
    saved: bool = False,
    done: bool = False,
) -> Response:
    labels = topic_labels(state.project(), locale)
    offered = [
        {"slug": t, "label": label, "wanted": t not in held.opted_out}
        for t, label in labels.items()
    ]
    response = state.pages.render(
        "unsubscribe.html.j2",
        locale=locale,
        email=mask_email(lead.email),
        action=action,
        done=done
        or (
            lead.suppressed_at is not None
            and lead.suppression_reason == SuppressionReason.UNSUBSCRIBED
        ),
        saved=saved,
        topics=offered,
        receiving=[t["label"] for t in offered if t["wanted"]],
        opted_out=[t["label"] for t in offered if not t["wanted"]],
        paused_until=held.paused_until,  # the page formats it for the locale
    )
    # The token in the URL is the key to this page: no caching, and no Referer carrying it.
    response.headers.update({**_NO_STORE, "Referrer-Policy": "no-referrer"})
    return response

"""Tell the rep: an email with the lead, why it qualified (score breakdown), what it did
(timeline) and signed accept/reject links; optionally a JSON webhook (Slack, a CRM)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.sales import SalesConfig
from nurture.handoff.models import Handoff
from nurture.leads.events import EventType
from nurture.leads.models import Event, Lead
from nurture.leads.stages import Stage
from nurture.locales.catalog import LANGUAGES, N_, translate
from nurture.locales.codes import resolve
from nurture.mail.message import OutgoingMessage, build_message
from nurture.rendering.compose import SAMPLE_LEADS, Composer, lead_context

log = logging.getLogger(__name__)

TIMELINE = 15  # events shown to the rep, newest first
SOURCE = ("utm_source", "utm_medium", "utm_campaign", "referrer", "source_form")


async def contexts(
    session: AsyncSession, composer: Composer, handoffs: list[Handoff]
) -> dict[int, dict[str, Any]]:
    """What the rep sees for each handoff (two queries for the lot)."""
    lead_ids = [h.lead_id for h in handoffs]
    leads = {
        lead.id: lead
        for lead in (await session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))).all()
    }
    rank = func.row_number().over(partition_by=Event.lead_id, order_by=Event.id.desc())
    recent = select(Event, rank.label("n")).where(Event.lead_id.in_(lead_ids)).subquery()
    rows = await session.execute(select(recent).where(recent.c.n <= TIMELINE))
    timeline: dict[int, list[dict[str, Any]]] = {i: [] for i in lead_ids}
    for e in rows:
        timeline[e.lead_id].append(
            {
                "type": e.type,
                "at": e.occurred_at,
                "sequence": e.sequence_id,
                "step": e.step_id,
                "url": (e.data or {}).get("url"),
                "data": e.data or {},
            }
        )
    out = {}
    for h in handoffs:
        lead = leads[h.lead_id]
        out[h.id] = {
            "handoff": {
                "id": h.id,
                "territory": h.territory,
                "created_at": h.created_at,
                "reassigned": h.previous_id is not None,
            },
            "rep": {"name": h.rep_name, "email": h.rep_email},
            "lead": {
                **lead_context(lead),
                "stage": lead.lifecycle_stage,
                "created_at": lead.created_at,
            },
            "source": {k: getattr(lead, k) for k in SOURCE if getattr(lead, k)},
            "score": h.breakdown,
            "timeline": sorted(timeline[h.lead_id], key=lambda e: e["at"], reverse=True),
            "accept_url": composer.links.handoff_url(h.id, "accept"),
            "reject_url": composer.links.handoff_url(h.id, "reject"),
        }
    return out


def sample_context(composer: Composer, now: datetime) -> dict[str, Any]:
    """A made-up handoff, for `nurture config check` and previews."""
    lead = {**lead_context(SAMPLE_LEADS["full"]), "stage": Stage.MQL, "created_at": now}
    return {
        "handoff": {"id": 0, "territory": "dach", "created_at": now, "reassigned": False},
        "rep": {"name": "Jonas Albrecht", "email": "jonas@example.com"},
        "lead": lead,
        "source": {"utm_source": "linkedin", "source_form": "leitfaden"},
        "score": {
            "total": 58,
            "rules": [
                {"rule": "senior-title", "kind": "fit", "points": 15},
                {"rule": "email-click", "kind": "engagement", "points": 16.0},
            ],
        },
        "timeline": [
            {
                "type": EventType.CLICK,
                "at": now,
                "sequence": "b2b-nurture",
                "step": "welcome",
                "url": "https://example.com/preise",
                "data": {},
            }
        ],
        "accept_url": composer.links.handoff_url(0, "accept"),
        "reject_url": composer.links.handoff_url(0, "reject"),
    }


def rep_facing_locale(
    sales: SalesConfig | None,
    rep_email: str | None,
    lead_locale: str | None,
    default: str | None = None,
) -> str:
    """What a rep reads (the hand-off email and page) is in the rep's locale if sales.yaml
    gives one, else in the lead's, by the chain over the languages we ship (de, sv, en);
    with neither, in ``default`` (the project's first locale) where we ship it."""
    rep = sales.rep_locale(rep_email) if sales and rep_email else None
    chain = list(LANGUAGES)
    if default is not None and (first := resolve(default, LANGUAGES)) != chain[0]:
        chain = [first, *(c for c in chain if c != first)]
    return resolve(rep or lead_locale, chain)


def handoff_message(
    composer: Composer,
    sales: SalesConfig,
    context: dict[str, Any],
    reminder: bool,
    now: datetime,
    locale: str | None = None,
    default_locale: str | None = None,
) -> OutgoingMessage:
    """The rep's email (templates/email/sales/handoff.<locale>.*), in ``locale`` or the
    rep's (rep_facing_locale; ``default_locale``: the project's, for a lead without one)."""
    lead = context["lead"]
    locale = locale or rep_facing_locale(
        sales, context["rep"]["email"], lead.get("locale"), default_locale
    )
    who = lead["full_name"] or lead["email"]
    name = f"{who} ({lead['company']})" if lead.get("company") else who
    msgid = N_("Reminder: new MQL: %(name)s") if reminder else N_("New MQL: %(name)s")
    subject = translate(locale, msgid, name=name)
    context = {**context, "reminder": reminder, "subject": subject, "locale": locale}
    rendered = composer.renderer.render("sales/handoff", "{{ subject }}", context, locale)
    return build_message(
        from_name=sales.sender.name,
        from_addr=str(sales.sender.email),
        to_name=context["rep"]["name"],
        to_addr=context["rep"]["email"],
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        date=now,
        headers={"Content-Language": locale},
    )


WEBHOOK_TEXT = N_("New MQL for %(rep)s: %(lead)s (score %(score)s)")


def webhook_payload(context: dict[str, Any], locale: str | None = None) -> dict[str, Any]:
    """The JSON a territory's webhook gets; ``text`` (what Slack shows) in ``locale``."""
    lead = context["lead"]
    return {
        "event": "mql.handoff",
        "handoff_id": context["handoff"]["id"],
        "territory": context["handoff"]["territory"],
        "rep": context["rep"],
        "lead": {
            k: lead.get(k)
            for k in ("email", "first_name", "last_name", "company", "job_title", "country")
        },
        "source": context["source"],
        "score": context["score"],
        "accept_url": context["accept_url"],
        "reject_url": context["reject_url"],
        # Slack's incoming webhooks show this field.
        "text": translate(
            locale,
            WEBHOOK_TEXT,
            rep=context["rep"]["name"],
            lead=lead["full_name"] or lead["email"],
            score=context["score"].get("total"),
        ),
    }


async def post_webhook(
    client: httpx.AsyncClient, url: str, payload: dict[str, Any], attempts: int = 3
) -> tuple[bool, str]:
    """POST with retries on errors and 5xx/429 (backoff 0.5 s, 1 s, ...); 4xx is final."""
    detail = ""
    for attempt in range(attempts):
        try:
            response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc}"
        else:
            if response.is_success:
                return True, str(response.status_code)
            detail = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return False, detail
        if attempt + 1 < attempts:
            await asyncio.sleep(0.5 * 2**attempt)
    log.warning("webhook %s failed after %d attempts: %s", url, attempts, detail)
    return False, detail

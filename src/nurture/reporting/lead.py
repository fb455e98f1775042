"""One lead, everything about it: profile, stage, owner, score breakdown, drips, timeline
(``nurture leads show``), as a typed ``LeadProfile`` printed as text or JSON."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.handoff.models import Handoff, HandoffState
from nurture.leads.events import ENGAGEMENT, EventType
from nurture.leads.models import Event
from nurture.leads.service import find_by_email
from nurture.ledger.models import Enrollment
from nurture.preferences.models import Pause, TopicOptOut
from nurture.reporting.lead_models import (
    EnrollmentInfo,
    HandoffInfo,
    Hit,
    LeadInfo,
    LeadProfile,
    Owner,
    PreferencesInfo,
    Reply,
    ScoreBreakdown,
    ScoreRule,
    TimelineEvent,
    TopicOptOutInfo,
)
from nurture.scoring.score import breakdown


async def lead_profile(session: AsyncSession, email: str, events: int = 30) -> LeadProfile | None:
    """The lead with this address (spelt as a person types it) and its latest ``events``
    events; None if there is none."""
    lead = await find_by_email(session, email)
    if lead is None:
        return None
    handoff = await session.scalar(
        select(Handoff).where(Handoff.lead_id == lead.id).order_by(Handoff.id.desc()).limit(1)
    )
    if lead.owner_email:
        owner = Owner(email=lead.owner_email, pending=False)
    elif handoff and handoff.state == HandoffState.PENDING:
        owner = Owner(email=handoff.rep_email, pending=True)
    else:
        owner = None
    enrollments = await session.scalars(
        select(Enrollment).where(Enrollment.lead_id == lead.id).order_by(Enrollment.id)
    )
    timeline = await session.scalars(
        select(Event).where(Event.lead_id == lead.id).order_by(Event.id.desc()).limit(events)
    )
    hits = await session.scalars(
        select(Event)
        .where(Event.lead_id == lead.id, Event.type.in_(ENGAGEMENT))
        .order_by(Event.occurred_at, Event.id)
    )
    replies = await session.scalars(
        select(Event)
        .where(Event.lead_id == lead.id, Event.type == EventType.REPLIED)
        .order_by(Event.occurred_at, Event.id)
    )
    score = await breakdown(session, lead.id)
    opted_out = await session.scalars(
        select(TopicOptOut).where(TopicOptOut.lead_id == lead.id).order_by(TopicOptOut.topic)
    )
    paused_until = await session.scalar(select(Pause.paused_until).where(Pause.lead_id == lead.id))
    return LeadProfile(
        lead=LeadInfo.model_validate(lead),
        owner=owner,
        handoff=HandoffInfo.model_validate(handoff) if handoff else None,
        score=ScoreBreakdown(
            total=score.total,
            rules=[ScoreRule(rule=r, kind=k, points=p) for r, k, p in score.rules],
        ),
        enrollments=[EnrollmentInfo.model_validate(e) for e in enrollments],
        timeline=[TimelineEvent.model_validate(e) for e in timeline],
        engagement=[Hit.of(e) for e in hits],
        replies=[Reply.model_validate(e) for e in replies],
        preferences=PreferencesInfo(
            opted_out=[TopicOptOutInfo.model_validate(o) for o in opted_out],
            paused_until=paused_until,
        ),
    )


def profile_json(p: LeadProfile) -> str:
    """The profile as JSON (docs/schemas/lead-profile.schema.json)."""
    return json.dumps(p.model_dump(mode="json"), indent=2, ensure_ascii=False)


def profile_text(p: LeadProfile) -> str:
    lead = p.lead
    name = " ".join(n for n in (lead.first_name, lead.last_name) if n) or "-"
    owner = f"{p.owner.email}{' (pending)' if p.owner.pending else ''}" if p.owner else "-"
    lines = [
        f"{lead.email}  {name}" + (f", {lead.company}" if lead.company else ""),
        f"  stage:    {lead.lifecycle_stage}"
        + (f" (suppressed: {lead.suppression_reason})" if lead.suppressed_at else ""),
        f"  owner:    {owner}",
        f"  job:      {lead.job_title or '-'}   country: {lead.country or '-'}"
        f"   custom: {lead.custom}",
        f"  source:   {lead.source_form or '-'} utm {lead.utm_source or '-'}/"
        f"{lead.utm_medium or '-'}/{lead.utm_campaign or '-'}",
        f"  since:    {lead.created_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"score {p.score.total} (as of the last scoring pass)",
    ]
    lines += [f"  {r.points:+7.1f}  {r.rule} ({r.kind})" for r in p.score.rules]
    if not p.score.rules:
        lines.append("  (no rule gave points)")
    handoff = p.handoff
    if handoff is not None:
        lines += [
            "",
            f"handoff #{handoff.id}: {handoff.state} -> {handoff.rep_email} "
            f"({handoff.territory}) {handoff.created_at:%Y-%m-%d %H:%M}"
            + (f", reason {handoff.reason}" if handoff.reason else ""),
        ]
    prefs = p.preferences
    opted = ", ".join(f"{o.topic} (since {o.opted_out_at:%Y-%m-%d})" for o in prefs.opted_out)
    lines += [
        "",
        f"preferences: topics opted out: {opted or '-'}; paused until: "
        + (f"{prefs.paused_until:%Y-%m-%d %H:%M} UTC" if prefs.paused_until else "-"),
    ]
    lines += ["", "drips"]
    for e in p.enrollments:
        due = f"  next {e.next_due_at:%Y-%m-%d %H:%M}" if e.next_due_at else ""
        why = f"  ({e.exit_reason})" if e.exit_reason else ""
        lines.append(f"  {e.sequence_id:<20} {e.state:<10} step {e.current_step}{due}{why}")
    people = [h for h in p.engagement if h.machine is None]
    lines += [
        "",
        f"opens and clicks: {len(people)} by a person, "
        f"{len(p.engagement) - len(people)} by machines (not counted)",
    ]
    for h in p.engagement:
        verdict = "human" if h.machine is None else f"machine: {h.machine}"
        url = f"  {h.data['url']}" if h.data.get("url") else ""
        lines.append(
            f"  {h.occurred_at:%Y-%m-%d %H:%M:%S}  {h.type:<6} {h.sequence_id}/{h.step_id}"
            f"  {verdict}{url}"
        )
    lines += ["", f"replies: {len(p.replies)}"]
    for r in p.replies:
        lines.append(
            f"  {r.occurred_at:%Y-%m-%d %H:%M}  {r.sequence_id}/{r.step_id}  "
            f"{r.data.get('subject', '')!s}: {r.data.get('snippet', '')!s}"
        )
    lines += ["", "timeline (newest first)"]
    for e in p.timeline:
        where = f" {e.sequence_id}/{e.step_id}" if e.step_id else ""
        data = {k: v for k, v in e.data.items() if v not in (None, "", {})}
        lines.append(
            f"  {e.occurred_at:%Y-%m-%d %H:%M}  {e.type:<18}{where}  {data or ''}".rstrip()
        )
    return "\n".join(lines)

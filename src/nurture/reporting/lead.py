"""One lead, everything about it: profile, stage, owner, score breakdown, drips, timeline
(``nurture leads show``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.handoff.models import Handoff, HandoffState
from nurture.leads.models import Event, Lead
from nurture.leads.service import find_by_email
from nurture.ledger.models import Enrollment
from nurture.scoring.score import breakdown


async def lead_profile(
    session: AsyncSession, email: str, events: int = 30
) -> dict[str, Any] | None:
    lead = await find_by_email(session, email)
    if lead is None:
        return None
    handoff = await session.scalar(
        select(Handoff).where(Handoff.lead_id == lead.id).order_by(Handoff.id.desc()).limit(1)
    )
    owner = lead.owner_email or (
        f"{handoff.rep_email} (pending)" if handoff and handoff.state == HandoffState.PENDING
        else None)  # fmt: skip
    enrollments = (await session.scalars(
        select(Enrollment).where(Enrollment.lead_id == lead.id).order_by(Enrollment.id)
    )).all()  # fmt: skip
    timeline = (await session.scalars(
        select(Event).where(Event.lead_id == lead.id).order_by(Event.id.desc()).limit(events)
    )).all()  # fmt: skip
    return {
        "lead": lead,
        "owner": owner,
        "handoff": handoff,
        "score": await breakdown(session, lead.id),
        "enrollments": list(enrollments),
        "timeline": list(timeline),
    }


def profile_text(p: dict[str, Any]) -> str:
    lead: Lead = p["lead"]
    name = " ".join(n for n in (lead.first_name, lead.last_name) if n) or "-"
    lines = [
        f"{lead.email}  {name}" + (f", {lead.company}" if lead.company else ""),
        f"  stage:    {lead.lifecycle_stage}"
        + (f" (suppressed: {lead.suppression_reason})" if lead.suppressed_at else ""),
        f"  owner:    {p['owner'] or '-'}",
        f"  job:      {lead.job_title or '-'}   country: {lead.country or '-'}"
        f"   custom: {lead.custom or {}}",
        f"  source:   {lead.source_form or '-'} utm {lead.utm_source or '-'}/"
        f"{lead.utm_medium or '-'}/{lead.utm_campaign or '-'}",
        f"  since:    {lead.created_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"score {p['score'].total} (as of the last scoring pass)",
    ]
    lines += [f"  {points:+7.1f}  {rule} ({kind})" for rule, kind, points in p["score"].rules]
    if not p["score"].rules:
        lines.append("  (no rule gave points)")
    handoff = p["handoff"]
    if handoff is not None:
        lines += ["", f"handoff #{handoff.id}: {handoff.state} -> {handoff.rep_email} "
                      f"({handoff.territory}) {handoff.created_at:%Y-%m-%d %H:%M}"
                      + (f", reason {handoff.reason}" if handoff.reason else "")]  # fmt: skip
    lines += ["", "drips"]
    for e in p["enrollments"]:
        due = f"  next {e.next_due_at:%Y-%m-%d %H:%M}" if e.next_due_at else ""
        why = f"  ({e.exit_reason})" if e.exit_reason else ""
        lines.append(f"  {e.sequence_id:<20} {e.state:<10} step {e.current_step}{due}{why}")
    lines += ["", "timeline (newest first)"]
    for e in p["timeline"]:
        where = f" {e.sequence_id}/{e.step_id}" if e.step_id else ""
        data = {k: v for k, v in (e.data or {}).items() if v not in (None, "", {})}
        lines.append(
            f"  {e.occurred_at:%Y-%m-%d %H:%M}  {e.type:<18}{where}  {data or ''}".rstrip()
        )
    return "\n".join(lines)

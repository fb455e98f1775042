"""The satisfaction score behind an NPS link, and where a referral link leads.

A score is recorded only by a POST (the page behind the link's GET shows the score and a
button: mail scanners fetch every link of an email). One answer counts per lead and send:
pressing another score later records it too, and reports take each lead's latest answer per
send; the same answer again records nothing. Functions take a session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.config.forms import FormConfig
from nurture.config.project import Project
from nurture.leads.events import EventType, record_event
from nurture.leads.models import Event, Lead
from nurture.ledger.models import Touch
from nurture.links import NpsScore

COMMENT_MAX = 2000


@dataclass(frozen=True)
class Scorer:
    """Whose score an NPS link carries, and the send it came in (None: a preview's)."""

    lead_id: int
    touch_id: int | None = None
    sequence_id: str | None = None
    step_id: str | None = None


async def scorer(session: AsyncSession, link: NpsScore) -> Scorer | None:
    """The lead and send a (verified) NPS link names; None if they no longer exist."""
    if link.touch_id is not None:
        row = (
            await session.execute(
                select(Touch.lead_id, Touch.sequence_id, Touch.step_id).where(
                    Touch.id == link.touch_id
                )
            )
        ).first()
        return None if row is None else Scorer(row[0], link.touch_id, row[1], row[2])
    lead_id = await session.scalar(select(Lead.id).where(Lead.public_id == link.public_id))
    return None if lead_id is None else Scorer(lead_id)


async def latest_answer(session: AsyncSession, who: Scorer) -> tuple[int, str | None] | None:
    """The score (and comment) this lead gave last for this send, if any."""
    touch = Event.touch_id.is_(None) if who.touch_id is None else Event.touch_id == who.touch_id
    data = await session.scalar(
        select(Event.data)
        .where(Event.lead_id == who.lead_id, Event.type == EventType.NPS_SCORED, touch)
        .order_by(Event.id.desc())
        .limit(1)
    )
    return None if data is None else (int(data["score"]), data.get("comment"))


def clean_comment(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.strip()[:COMMENT_MAX] or None


async def record_score(
    session: AsyncSession, who: Scorer, score: int, comment: str | None, now: datetime
) -> bool:
    """Record an ``nps_scored`` event unless it repeats the lead's latest answer for this send
    (a double click, a resent form). Returns whether one was recorded."""
    if await latest_answer(session, who) == (score, comment):
        return False
    extra = {"comment": comment} if comment else {}
    await record_event(
        session,
        who.lead_id,
        EventType.NPS_SCORED,
        now,
        sequence_id=who.sequence_id,
        step_id=who.step_id,
        touch_id=who.touch_id,
        score=score,
        **extra,
    )
    return True


def referral_form(project: Project) -> FormConfig | None:
    """The form whose landing page referral links lead to (``referral: true``), if any."""
    return next((f for f in project.forms.values() if f.referral), None)

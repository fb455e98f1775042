"""Every table that holds rows about a lead, besides ``leads`` itself: what an export lists
and what ``forget`` erases. A new table with a lead's rows (deals, preferences) is one more
``Held`` entry here, and both follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nurture.crm.models import Deal
from nurture.handoff.models import Handoff
from nurture.inbox.models import ReplyForward
from nurture.leads.events import erase_payloads
from nurture.leads.models import Consent, Event, LeadScore
from nurture.ledger.models import Enrollment, Touch
from nurture.preferences.models import Pause, TopicOptOut
from nurture.visitors.models import Visitor, VisitorEvent

Rows = Callable[[Sequence[int]], ColumnElement[bool]]
Eraser = Callable[[AsyncSession, Sequence[int]], Awaitable[Any]]


@dataclass(frozen=True)
class Held:
    """``name``: the export's key; ``of``: the rows of these leads; ``erase``: what forget
    does to them (None: they hold nothing personal and stay as they are)."""

    name: str
    table: Table
    of: Rows
    erase: Eraser | None
    hidden: tuple[str, ...] = ("lead_id",)  # said once, by the export's lead


def blank(table: Table, of: Rows, **values: Any) -> Eraser:
    """Forget sets these columns (to None, or an anonymous value) on the rows."""

    async def erase(session: AsyncSession, lead_ids: Sequence[int]) -> None:
        await session.execute(update(table).where(of(lead_ids)).values(**values))

    return erase


def remove(table: Table, of: Rows) -> Eraser:
    """Forget deletes the rows: they are the person's data and nothing else."""

    async def erase(session: AsyncSession, lead_ids: Sequence[int]) -> None:
        await session.execute(delete(table).where(of(lead_ids)))

    return erase


def of_leads(column: Any) -> Rows:
    return lambda ids: column.in_(ids)


def _visitor_events(ids: Sequence[int]) -> ColumnElement[bool]:
    return VisitorEvent.visitor_id.in_(select(Visitor.id).where(Visitor.lead_id.in_(ids)))


_consents = of_leads(Consent.lead_id)
_sends = of_leads(Touch.lead_id)
_handoffs = of_leads(Handoff.lead_id)
_forwards = of_leads(ReplyForward.lead_id)
_visitors = of_leads(Visitor.lead_id)

# In the order forget erases them (a visitor's events before the visitor).
HELD: tuple[Held, ...] = (
    # The consent text and version, its times and form stay: proof that consent existed
    # (no longer whose); where it came from (IP, browser) goes.
    Held(
        "consents",
        Consent.__table__,
        _consents,
        blank(
            Consent.__table__,
            _consents,
            ip=None,
            user_agent=None,
            confirmed_ip=None,
            confirmed_user_agent=None,
        ),
    ),
    # Rows, types and times stay (the report counts them); data keeps no personal value.
    Held("events", Event.__table__, of_leads(Event.lead_id), erase_payloads),
    Held("enrollments", Enrollment.__table__, of_leads(Enrollment.lead_id), None),
    # The server's reply may echo the address ("550 <max@firma.de> unknown").
    Held("sends", Touch.__table__, _sends, blank(Touch.__table__, _sends, smtp_reply=None)),
    Held("scores", LeadScore.__table__, of_leads(LeadScore.lead_id), None),
    # The CRM's deal id, value and date: nothing personal, and the revenue stays counted.
    Held("deals", Deal.__table__, of_leads(Deal.lead_id), None),
    # The lead's choices on the preference page: topics and times, nothing personal.
    Held("topic_opt_outs", TopicOptOut.__table__, of_leads(TopicOptOut.lead_id), None),
    Held("pauses", Pause.__table__, of_leads(Pause.lead_id), None),
    # The rep, territory, score and breakdown (rule names and points) stay; a rep's note on
    # the person goes (a reject reason is one of the configured keys).
    Held("handoffs", Handoff.__table__, _handoffs, blank(Handoff.__table__, _handoffs, note=None)),
    # The reply's subject, text and the lead's address: queued mail about the person.
    Held(
        "reply_forwards",
        ReplyForward.__table__,
        _forwards,
        remove(ReplyForward.__table__, _forwards),
    ),
    Held(
        "visitor_events",
        VisitorEvent.__table__,
        _visitor_events,
        remove(VisitorEvent.__table__, _visitor_events),
        hidden=(),
    ),
    # The browser's cookie id would recognise the person on their next visit.
    Held("visitors", Visitor.__table__, _visitors, remove(Visitor.__table__, _visitors)),
)

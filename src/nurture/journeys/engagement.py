"""What counts as a lead's engagement, in one place: the inactivity trigger and the sunset
both ask whether a person did something, and must mean the same.

Engagement is an event a person caused (``human()``: an open or click judged a machine's is
none) of these kinds: opens, clicks, replies, page views, form posts, a double opt-in
confirmed, a satisfaction score, a choice on the preference page, and every custom event (a
CRM or the website reporting what the lead did). Mail nurture sent, bounces, auto-replies and
stage changes are not.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Exists, and_, exists, false, or_
from sqlalchemy.orm import InstrumentedAttribute

from nurture.leads.events import CUSTOM_PREFIX, EventType, human
from nurture.leads.models import Consent, Event, Lead

ENGAGED = (
    EventType.OPEN,
    EventType.CLICK,
    EventType.REPLIED,
    EventType.PAGE,
    EventType.CAPTURED,
    EventType.CONFIRMED,
    EventType.NPS_SCORED,
    EventType.PREFERENCES_CHANGED,
)


def engaged() -> ColumnElement[bool]:
    """Events that are a person's engagement."""
    return and_(or_(Event.type.in_(ENGAGED), Event.type.startswith(CUSTOM_PREFIX)), human())


def engaged_since(
    lead_id: ColumnElement[int] | InstrumentedAttribute[int],
    since: ColumnElement[datetime] | InstrumentedAttribute[datetime] | datetime,
) -> Exists:
    """Whether the lead engaged at or after ``since`` (a column or an instant)."""
    return exists().where(Event.lead_id == lead_id, Event.occurred_at >= since, engaged())


def mailable() -> ColumnElement[bool]:
    """Leads a trigger may enrol: not suppressed, with a consent that needs no confirmation
    or was confirmed (what capture requires before a drip starts)."""
    confirmed = or_(Consent.double_opt_in == false(), Consent.confirmed_at.is_not(None))
    return and_(Lead.suppressed_at.is_(None), exists().where(Consent.lead_id == Lead.id, confirmed))

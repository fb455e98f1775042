"""Anonymous website visitors and what they did while nobody knew who they were."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, JSONType, UTCDateTime
from nurture.leads.models import BigId


class Visitor(Base):
    """One browser, by the random id of its ``nurture_aid`` cookie (Segment's anonymousId).
    ``lead_id`` is set once, when the visitor becomes a lead (a form post, an identify call,
    a tracked click), and never changes after: the first lead keeps the browser."""

    __tablename__ = "visitors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    anonymous_id: Mapped[str] = mapped_column(String(64), unique=True)
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="CASCADE"), index=True
    )
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the last call we received
    joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class VisitorEvent(Base):
    """A page view or track call of a visitor not (yet) known: moved into the lead's events
    when the visitor joins a lead, deleted after the retention otherwise."""

    __tablename__ = "visitor_events"
    __table_args__ = (
        Index("ix_visitor_events_visitor", "visitor_id"),
        Index("ix_visitor_events_occurred", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

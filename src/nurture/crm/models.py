"""Table: deals (purchases a CRM reports: the first makes a customer, later ones are repeat
business).

One row per lead and the CRM's own deal id (``external_id``, unique per lead): a webhook the
CRM sends again, or a retry after a lost answer, finds the row and changes nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime, utcnow
from nurture.leads.models import BigId


class Deal(Base):
    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("lead_id", "external_id", name="uq_deals_lead_external"),
        Index("ix_deals_closed_on", "closed_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))  # the CRM's deal id
    # Money in cents precision; read back as float like every other value in the reports.
    value: Mapped[float] = mapped_column(Numeric(14, 2, asdecimal=False))
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217, upper case
    closed_on: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

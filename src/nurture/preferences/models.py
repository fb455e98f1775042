"""Tables: topic_opt_outs (a lead wants no mail of a topic) and pauses (no marketing mail
until a time). A row exists only while the choice holds: opting back in deletes it, so "no
row" is the default of every lead and nothing is written for leads who never chose."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class TopicOptOut(Base):
    __tablename__ = "topic_opt_outs"

    lead_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64), primary_key=True)  # a sequence's `topic`
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Pause(Base):
    __tablename__ = "pauses"

    lead_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True
    )
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A row whose time has passed is a pause that ended: ignored, replaced by the next pause.
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

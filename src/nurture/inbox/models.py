"""Table: reply_forwards (a person's reply on its way to the lead's owner or sender).

A row is written in the same transaction as the ``replied`` event and the message's receipt,
so a reply is queued for forwarding exactly once (``message_key`` is unique too). Sending
claims rows first (``sending``, in its own committed transaction), so two workers or a rerun
never send one twice; a failed send goes back to ``pending`` with its error and is retried,
up to ``MAX_ATTEMPTS``; a row left ``sending`` by a process that died mid-send is in doubt
and never resent by itself (docs/signals.md says what to do).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime, utcnow
from nurture.leads.models import BigId


class ForwardState(StrEnum):
    PENDING = "pending"  # to be sent (new, or a failed attempt to retry)
    SENDING = "sending"  # claimed by a sender; left so by a crash: in doubt
    SENT = "sent"  # the mail server accepted it
    FAILED = "failed"  # gave up after MAX_ATTEMPTS


MAX_ATTEMPTS = 10


class ReplyForward(Base):
    __tablename__ = "reply_forwards"
    __table_args__ = (
        UniqueConstraint("message_key", name="uq_reply_forwards_message_key"),
        Index("ix_reply_forwards_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_key: Mapped[str] = mapped_column(String(255))  # the receipt key of the reply
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    touch_id: Mapped[int | None] = mapped_column(BigId)
    sequence_id: Mapped[str | None] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))  # the owner, else the sender
    from_name: Mapped[str] = mapped_column(String(200))
    from_email: Mapped[str] = mapped_column(String(320))  # the sequence's sender (our domain)
    reply_email: Mapped[str] = mapped_column(String(320))  # the lead: Reply-To of the forward
    subject: Mapped[str] = mapped_column(String(300))
    # The reply's text, kept only until it is sent (then NULL: the event keeps a snippet).
    body: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ForwardState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

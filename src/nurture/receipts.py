"""What arrived already: the key of every notification, message or call from outside that
changes state (an inbox message's Message-ID, a provider webhook's notification id, a tracking
call's messageId). ``first_seen`` claims keys in the caller's transaction, so a replay, a
restart or two workers reading the same inbox record each thing once: the second claim finds
the key taken and gets nothing back, and if the caller's transaction rolls back, so does the
claim. ``prune`` forgets a source's keys once they can no longer come back (a Mailgun token
is refused anyway after its signature's age)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import PrimaryKeyConstraint, String, delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime, chunked, insert_values


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (PrimaryKeyConstraint("source", "key", name="pk_receipts"),)

    # Where it came from: "inbox", "ses", "postmark", "track", ...
    source: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


KEY_LENGTH = 255


async def first_seen(
    session: AsyncSession, source: str, keys: Iterable[str], at: datetime
) -> set[str]:
    """Claim ``keys`` from ``source``; returns those never claimed before (in one statement per
    chunk). Keys longer than the column are cut: callers hash what can be longer."""
    wanted = list(dict.fromkeys(k[:KEY_LENGTH] for k in keys))
    new: set[str] = set()
    for part in chunked(wanted, 2000):  # three bound parameters a row
        rows = await insert_values(
            session,
            Receipt.__table__,
            ("source", "key", "received_at"),
            [{"source": source, "key": k, "received_at": at} for k in part],
            "ON CONFLICT (source, key) DO NOTHING",
            ("key",),
        )
        new.update(r.key for r in rows)
    return new


async def prune(session: AsyncSession, source: str, older_than: datetime) -> int:
    """Forget ``source``'s keys claimed before ``older_than`` (in the caller's transaction);
    returns how many. Only for keys that are useless after an age: a key forgotten is new
    again."""
    result = await session.execute(
        delete(Receipt).where(Receipt.source == source, Receipt.received_at < older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

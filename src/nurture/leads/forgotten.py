"""Addresses whose person asked to be forgotten: kept only as a keyed hash (HMAC-SHA256 with
the signing key), so nothing can mail them again - no import, API call or form - without a
new, confirmed consent, while the address itself is nowhere in the database."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, UTCDateTime, chunked


class Forgotten(Base):
    __tablename__ = "forgotten"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    forgotten_at: Mapped[datetime] = mapped_column(UTCDateTime)


def address_key(email: str, secret: str) -> str:
    """The keyed hash of a normalised address (without the key the hash says nothing)."""
    return hmac.new(secret.encode(), email.encode(), hashlib.sha256).hexdigest()


async def forgotten_among(session: AsyncSession, emails: Iterable[str], secret: str) -> set[str]:
    """Which of these normalised addresses belong to people who asked to be forgotten."""
    keys = {address_key(e, secret): e for e in emails}
    found: set[str] = set()
    for part in chunked(list(keys)):
        rows = await session.scalars(select(Forgotten.key).where(Forgotten.key.in_(part)))
        found.update(keys[k] for k in rows)
    return found

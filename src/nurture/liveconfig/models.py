"""Table: config_snapshots, every config (with its templates) the running system applied,
by content hash. The one applied last (``applied_at``) is what is live: what ``nurture
plan`` compares a working tree with, and what the system keeps using while the files on
disk do not validate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, JSONType, UTCDateTime, utcnow


class ConfigSnapshot(Base):
    __tablename__ = "config_snapshots"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Relative path (config/..., templates/...) -> the file's text.
    files: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    first_applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    applied_by: Mapped[str | None] = mapped_column(String(64))  # dispatch, handoff, inbox

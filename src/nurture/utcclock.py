"""Parsing the times users type (``--now``, ``--start``) into aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday morning, for previews


def parse_instant(text: str, default_tz: str = "UTC") -> datetime:
    """ISO 8601; a value without offset is read in ``default_tz``."""
    from zoneinfo import ZoneInfo

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(default_tz))
    return value.astimezone(UTC)

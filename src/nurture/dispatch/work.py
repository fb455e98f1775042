"""A batch's units of work: a claimed touch, and a touch to send with its lead's context.

Plain values, not ORM objects: they cross transactions (claimed in one, recorded in another).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed touch with what recording needs."""

    id: int
    enrollment_id: int
    lead_id: int
    lead_timezone: str | None
    sequence_id: str
    step_id: str
    step_index: int  # the step's index in the sequence as configured now
    attempts: int  # SMTP attempts before this one


@dataclass(frozen=True, slots=True)
class Work:
    """A claimed touch that may go out, with what rendering needs: its lead's template context
    and the lead's public id (its links carry that, never the address)."""

    touch: Claimed
    lead: dict[str, Any]
    public_id: str

"""A batch's unit of work: a claimed touch (ledger.claims.Claimed) to send, with its lead's
context.

Plain values, not ORM objects: they cross transactions (claimed in one, recorded in another).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nurture.ledger.claims import Claimed


@dataclass(frozen=True, slots=True)
class Work:
    """A claimed touch that may go out, with what rendering needs: its lead's template context
    and the lead's public id (its links carry that, never the address)."""

    touch: Claimed
    lead: dict[str, Any]
    public_id: str
    variant: str | None = None  # the step's experiment arm (sends.variant), if it has one

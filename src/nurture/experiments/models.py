"""Table: experiment_winners, one row per step whose experiment was decided: from then on
only that variant is sent (docs/experiments.md). Which variant a lead got is on its send
(sends.variant)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from nurture.db import Base, JSONType, UTCDateTime, utcnow


class ExperimentWinner(Base):
    __tablename__ = "experiment_winners"

    sequence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    variant: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(16))
    # The figures the decision rested on: sends and successes per variant, p-value, interval.
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

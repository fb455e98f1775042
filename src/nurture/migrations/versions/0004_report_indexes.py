"""Indexes for the funnel report: events by type, sequence and step (index-only scans)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The per-step counts (sends, bounces, distinct openers and clickers) read only these
    # columns: the report scans this index instead of the table.
    op.create_index(
        "ix_events_type_sequence_step",
        "events",
        ["type", "sequence_id", "step_id", "occurred_at", "lead_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_events_type_sequence_step", table_name="events")

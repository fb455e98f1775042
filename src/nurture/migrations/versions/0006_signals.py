"""Signals: each event's send and verdict, the receipts of what arrived from outside, sends
found by Message-ID

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nurture.db import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("touch_id", BigId, nullable=True))
        batch.add_column(sa.Column("machine", sa.String(length=32), nullable=True))
    op.create_index("ix_events_touch", "events", ["touch_id"])
    op.create_index("ix_sends_message_id", "sends", ["message_id"])
    op.create_table(
        "receipts",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", name="pk_receipts"),
    )


def downgrade() -> None:
    op.drop_table("receipts")
    op.drop_index("ix_sends_message_id", table_name="sends")
    op.drop_index("ix_events_touch", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("machine")
        batch.drop_column("touch_id")

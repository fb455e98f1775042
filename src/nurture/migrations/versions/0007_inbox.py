"""Inbox: replies on their way to the lead's owner (reply_forwards)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nurture.db import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reply_forwards",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_key", sa.String(length=255), nullable=False),
        sa.Column(
            "lead_id",
            BigId,
            sa.ForeignKey("leads.id", ondelete="CASCADE", name="fk_reply_forwards_lead_id_leads"),
            nullable=False,
        ),
        sa.Column("touch_id", BigId, nullable=True),
        sa.Column("sequence_id", sa.String(length=64), nullable=True),
        sa.Column("step_id", sa.String(length=64), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("from_name", sa.String(length=200), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("reply_email", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_reply_forwards"),
        sa.UniqueConstraint("message_key", name="uq_reply_forwards_message_key"),
    )
    op.create_index("ix_reply_forwards_state", "reply_forwards", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_reply_forwards_state", table_name="reply_forwards")
    op.drop_table("reply_forwards")

"""The lead's preferences: topics opted out of, a pause

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nurture.db import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "topic_opt_outs",
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_topic_opt_outs_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_id", "topic", name=op.f("pk_topic_opt_outs")),
    )
    op.create_table(
        "pauses",
        sa.Column("lead_id", BigId, nullable=False),
        sa.Column("paused_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("paused_until", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_pauses_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_pauses")),
    )
    op.create_index(op.f("ix_pauses_paused_until"), "pauses", ["paused_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_pauses_paused_until"), table_name="pauses")
    op.drop_table("pauses")
    op.drop_table("topic_opt_outs")

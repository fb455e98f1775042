"""Deals (repeat purchases) and what the lifecycle report needs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nurture.db import UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deals",
        sa.Column("id", BigId, nullable=False),
        sa.Column(
            "lead_id",
            BigId,
            sa.ForeignKey("leads.id", ondelete="CASCADE", name="fk_deals_lead_id_leads"),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("value", sa.Numeric(14, 2, asdecimal=False), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deals"),
        sa.UniqueConstraint("lead_id", "external_id", name="uq_deals_lead_external"),
    )
    op.create_index("ix_deals_closed_on", "deals", ["closed_on"])


def downgrade() -> None:
    op.drop_index("ix_deals_closed_on", table_name="deals")
    op.drop_table("deals")

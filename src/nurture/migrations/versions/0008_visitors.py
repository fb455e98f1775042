"""Website visitors: anonymous ids (the nurture_aid cookie) and their page views and track
calls until they become a lead

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from nurture.db import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "visitors",
        sa.Column("id", BigId, nullable=False),
        sa.Column("anonymous_id", sa.String(length=64), nullable=False),
        sa.Column("lead_id", BigId, nullable=True),
        sa.Column("seen_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("joined_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_visitors_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitors")),
        sa.UniqueConstraint("anonymous_id", name=op.f("uq_visitors_anonymous_id")),
    )
    op.create_index(op.f("ix_visitors_lead_id"), "visitors", ["lead_id"])
    op.create_table(
        "visitor_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("visitor_id", BigId, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["visitor_id"],
            ["visitors.id"],
            name=op.f("fk_visitor_events_visitor_id_visitors"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_events")),
    )
    op.create_index("ix_visitor_events_visitor", "visitor_events", ["visitor_id"])
    op.create_index("ix_visitor_events_occurred", "visitor_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_table("visitor_events")
    op.drop_index(op.f("ix_visitors_lead_id"), table_name="visitors")
    op.drop_table("visitors")

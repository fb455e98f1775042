"""Scoring and hand-off: leads.score_reset_at, owner_email; lead_scores; handoffs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.add_column(
            sa.Column("score_reset_at", nurture.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("owner_email", sa.String(320), nullable=True))
    op.create_table(
        "lead_scores",
        sa.Column(
            "lead_id",
            BigId,
            sa.ForeignKey("leads.id", ondelete="CASCADE", name="fk_lead_scores_lead_id_leads"),
            nullable=False,
        ),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("points", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", "rule", name="pk_lead_scores"),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "lead_id",
            BigId,
            sa.ForeignKey("leads.id", ondelete="CASCADE", name="fk_handoffs_lead_id_leads"),
            nullable=False,
        ),
        sa.Column("territory", sa.String(64), nullable=False),
        sa.Column("rep_name", sa.String(100), nullable=False),
        sa.Column("rep_email", sa.String(320), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("breakdown", nurture.db.JSONType, nullable=False),
        sa.Column("previous_id", BigId, nullable=True),
        sa.Column("created_at", nurture.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", nurture.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_at", nurture.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("responded_at", nurture.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_handoffs"),
    )
    op.create_index(
        "uq_handoffs_pending_lead",
        "handoffs",
        ["lead_id"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index("ix_handoffs_state_created", "handoffs", ["state", "created_at"])
    # Engagement scoring reads events by lead and type.
    op.create_index("ix_events_lead_type", "events", ["lead_id", "type"])


def downgrade() -> None:
    op.drop_index("ix_events_lead_type", table_name="events")
    op.drop_table("handoffs")
    op.drop_table("lead_scores")
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_column("owner_email")
        batch_op.drop_column("score_reset_at")

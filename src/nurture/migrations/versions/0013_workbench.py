"""The workbench: the variant on each send, decided experiments, config snapshots

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nurture.db import JSONType, UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("variant", sa.String(length=64), nullable=True))
    op.create_table(
        "experiment_winners",
        sa.Column("sequence_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("stats", JSONType, nullable=False),
        sa.Column("decided_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence_id", "step_id", name=op.f("pk_experiment_winners")),
    )
    op.create_table(
        "config_snapshots",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("files", JSONType, nullable=False),
        sa.Column("first_applied_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_config_snapshots")),
    )
    op.create_index(
        op.f("ix_config_snapshots_applied_at"), "config_snapshots", ["applied_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_config_snapshots_applied_at"), table_name="config_snapshots")
    op.drop_table("config_snapshots")
    op.drop_table("experiment_winners")
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("variant")

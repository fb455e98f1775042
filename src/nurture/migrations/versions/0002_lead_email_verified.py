"""leads.email_verified_at: set when a double opt-in link is first confirmed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nurture.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.add_column(
            sa.Column("email_verified_at", nurture.db.UTCDateTime(timezone=True), nullable=True)
        )
    # Leads that confirmed before this column existed.
    op.execute(
        "UPDATE leads SET email_verified_at = (SELECT min(confirmed_at) FROM consents "
        "WHERE consents.lead_id = leads.id) "
        "WHERE EXISTS (SELECT 1 FROM consents WHERE consents.lead_id = leads.id "
        "AND consents.confirmed_at IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_column("email_verified_at")

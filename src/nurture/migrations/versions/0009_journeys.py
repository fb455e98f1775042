"""Journeys beyond forms: re-entry (an enrollment per entry of a lead into a sequence)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``enrollments.entry`` numbers a lead's entries into one sequence (1, 2, ...); the unique key
becomes (lead_id, sequence_id, entry), so two passes enrolling at once still enrol once.

SQLite cannot drop a table constraint: batch mode rebuilds the table, and its
``DROP TABLE enrollments`` runs, with foreign keys on (db.py, and a pragma no migration can
turn off inside its transaction), as a ``DELETE`` that cascades into ``sends``. The sends are
kept aside in a temporary table for the rebuild and put back, ids and all.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = "uq_enrollments_lead_sequence", "uq_enrollments_lead_sequence_entry"


def _rebuild(change) -> None:  # type: ignore[no-untyped-def]
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE _sends_kept AS SELECT * FROM sends")
    with op.batch_alter_table("enrollments") as batch:
        change(batch)
    if sqlite:
        op.execute("INSERT INTO sends SELECT * FROM _sends_kept")
        op.execute("DROP TABLE _sends_kept")


def upgrade() -> None:
    def change(batch) -> None:  # type: ignore[no-untyped-def]
        batch.add_column(sa.Column("entry", sa.Integer(), server_default="1", nullable=False))
        batch.drop_constraint(OLD, type_="unique")
        batch.create_unique_constraint(NEW, ["lead_id", "sequence_id", "entry"])

    _rebuild(change)


def downgrade() -> None:
    # Back to one enrollment per lead and sequence: the later entries (and their sends) go.
    op.execute(
        "DELETE FROM sends WHERE enrollment_id IN (SELECT id FROM enrollments WHERE entry > 1)"
    )
    op.execute("DELETE FROM enrollments WHERE entry > 1")

    def change(batch) -> None:  # type: ignore[no-untyped-def]
        batch.drop_constraint(NEW, type_="unique")
        batch.create_unique_constraint(OLD, ["lead_id", "sequence_id"])
        batch.drop_column("entry")

    _rebuild(change)

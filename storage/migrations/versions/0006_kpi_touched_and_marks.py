"""kpi: touched in the funnel cohort, and the follow-up log mark

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 08:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Idempotent: for an hour 0004 carried these changes before they moved here, and a few
    # development databases were built from it then.
    inspector = sa.inspect(op.get_bind())
    # The server defaults only fill the rows already there; the models always write values.
    for table, column in (
        ("campaign_days", sa.Column("touched", _ID, nullable=False, server_default="0")),
        (
            "campaign_allocations",
            sa.Column("touched", sa.Boolean(), nullable=False, server_default=sa.false()),
        ),
    ):
        if "touched" in {c["name"] for c in inspector.get_columns(table)}:
            continue
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(column)
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("touched", server_default=None)
    if inspector.has_table("kpi_marks"):
        return
    op.create_table(
        "kpi_marks",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", _ID, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_kpi_marks")),
    )


def downgrade() -> None:
    op.drop_table("kpi_marks")
    with op.batch_alter_table("campaign_allocations", schema=None) as batch_op:
        batch_op.drop_column("touched")
    with op.batch_alter_table("campaign_days", schema=None) as batch_op:
        batch_op.drop_column("touched")

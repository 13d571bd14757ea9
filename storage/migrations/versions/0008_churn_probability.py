"""lifecycle: the calibrated churn probability per customer

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Filled by the next recompute; until then the stages keep their rhythm rules.
    with op.batch_alter_table("customer_stats") as batch:
        batch.add_column(sa.Column("churn_probability", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customer_stats") as batch:
        batch.drop_column("churn_probability")

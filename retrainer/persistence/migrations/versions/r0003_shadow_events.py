"""A registration's shadow run: how many live labeled events a challenger is scored on before promotion.

The new version status ``shadow`` needs no change: statuses are strings.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, so SQLite adds it without rebuilding the table; NULL: the worker's setting.
    op.add_column("driftline_models", sa.Column("shadow_events", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("driftline_models") as batch:
        batch.drop_column("shadow_events")

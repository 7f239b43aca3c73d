"""Versions a service reported that driftline did not make (a model the service brought along).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "driftline_external_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.BigInteger(), nullable=False),
        sa.Column("n_labeled", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.UniqueConstraint("model_id", "version", name="uq_driftline_external_version"),
    )
    op.create_index("ix_driftline_external_versions_model_id", "driftline_external_versions", ["model_id"])


def downgrade() -> None:
    op.drop_index("ix_driftline_external_versions_model_id", "driftline_external_versions")
    op.drop_table("driftline_external_versions")

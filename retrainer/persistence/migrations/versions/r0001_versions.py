"""The versions table as the registry created it before migrations existed.

A database made by that code (``create_all``, no alembic table) is stamped
with this revision and upgraded from here, so its versions are kept.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "driftline_model_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("version_num", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parent_version", sa.String(32), nullable=True),
        sa.Column("request_id", sa.String(255), nullable=True),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("window", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("trainer", sa.String(255), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("model_id", "version_num", name="uq_driftline_version"),
        sa.UniqueConstraint("model_id", "request_id", name="uq_driftline_request"),
    )
    op.create_index("ix_driftline_model_versions_model_id", "driftline_model_versions",
                    ["model_id"])
    op.create_index("uq_driftline_one_champion", "driftline_model_versions", ["model_id"],
                    unique=True, sqlite_where=sa.text("status = 'champion'"),
                    postgresql_where=sa.text("status = 'champion'"))


def downgrade() -> None:
    op.drop_table("driftline_model_versions")

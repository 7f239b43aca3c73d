"""Registered models, retrain runs, and the rest of every version's lineage.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "driftline_models",
        sa.Column("model_id", sa.String(255), primary_key=True),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("trainer", sa.String(255), nullable=True),
        sa.Column("trainer_params", sa.JSON(), nullable=False),
        sa.Column("gate_metric", sa.String(64), nullable=True),
        sa.Column("gate_margin", sa.Float(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "driftline_retrain_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.String(255), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("worker_id", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("version", sa.String(32), nullable=True),
        sa.UniqueConstraint("model_id", "request_id", name="uq_driftline_run_request"),
    )
    op.create_index("ix_driftline_retrain_runs_model_id", "driftline_retrain_runs", ["model_id"])
    # Nullable, so SQLite can add them without rebuilding the table; old rows read as empty.
    for column in (sa.Column("trainer_params", sa.JSON(), nullable=True),
                   sa.Column("reference", sa.JSON(), nullable=True),
                   sa.Column("status_reason", sa.Text(), nullable=True),
                   sa.Column("status_changed_at", sa.BigInteger(), nullable=True)):
        op.add_column("driftline_model_versions", column)


def downgrade() -> None:
    for name in ("status_changed_at", "status_reason", "reference", "trainer_params"):
        with op.batch_alter_table("driftline_model_versions") as batch:
            batch.drop_column(name)
    op.drop_table("driftline_retrain_runs")
    op.drop_table("driftline_models")

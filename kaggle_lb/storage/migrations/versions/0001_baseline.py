"""Baseline: the schema as kaggle_lb.storage.schema builds it.

A new database is created from the metadata and stamped with this revision; later revisions
alter it in place (Alembic's "build from scratch, then stamp" recipe), so upgrades never drop data.

Revision ID: 0001
Revises:
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

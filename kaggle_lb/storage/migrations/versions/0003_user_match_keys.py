"""user_match_keys, user_key_changes, user_keys_state: kaggle-lb's indexed copy of each user's
match key (and the names it came from), so a board's users are found through an index instead
of a scan of the users table.

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
    op.create_table(
        "user_match_keys",
        sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("match_key", sa.Text, nullable=False),
        sa.Column("username", sa.Text, nullable=True),
        sa.Column("kaggle_username", sa.Text, nullable=True),
    )
    op.create_index("ix_user_match_keys_match_key", "user_match_keys", ["match_key"])
    op.create_table(
        "user_key_changes",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("match_key", sa.Text, primary_key=True),
    )
    op.create_table(
        "user_keys_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("log_start", sa.Integer, nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("user_keys_state")
    op.drop_table("user_key_changes")
    op.drop_index("ix_user_match_keys_match_key", "user_match_keys")
    op.drop_table("user_match_keys")

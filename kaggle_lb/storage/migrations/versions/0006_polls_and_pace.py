"""What a batch poll needs to tell an unchanged board from a changed one without a run
(kaggle_lb_polls, the fingerprint and key version of each sync, the version each user's key last
changed in), and the shared pace of requests to Kaggle (kaggle_lb_kaggle_pace).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from kaggle_lb.storage.schema import own_metadata

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A sync from before 0006 has no fingerprint: its board counts as changed at the next poll.
    added: dict[str, list[sa.Column]] = {
        "kaggle_lb_syncs": [
            sa.Column("fingerprint", sa.String(64), nullable=True),
            sa.Column("key_version", sa.Integer, nullable=True),
        ],
        "kaggle_lb_user_match_keys": [
            sa.Column("changed_version", sa.Integer, nullable=False, server_default="0"),
        ],
    }
    for table, columns in added.items():
        present = {found["name"] for found in inspector.get_columns(table)}
        with op.batch_alter_table(table) as batch:
            for column in columns:
                if column.name not in present:
                    batch.add_column(column)
    index_names = {index["name"] for index in inspector.get_indexes("kaggle_lb_user_match_keys")}
    if "ix_kaggle_lb_user_match_keys_changed_version" not in index_names:
        op.create_index(
            "ix_kaggle_lb_user_match_keys_changed_version", "kaggle_lb_user_match_keys", ["changed_version"]
        )
    for name in ("kaggle_lb_polls", "kaggle_lb_kaggle_pace"):
        own_metadata().tables[name].create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    op.drop_table("kaggle_lb_kaggle_pace")
    op.drop_table("kaggle_lb_polls")
    op.drop_index("ix_kaggle_lb_user_match_keys_changed_version", "kaggle_lb_user_match_keys")
    with op.batch_alter_table("kaggle_lb_user_match_keys") as batch:
        batch.drop_column("changed_version")
    with op.batch_alter_table("kaggle_lb_syncs") as batch:
        batch.drop_column("key_version")
        batch.drop_column("fingerprint")

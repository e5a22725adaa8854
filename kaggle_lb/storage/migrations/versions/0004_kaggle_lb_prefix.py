"""kaggle-lb's own tables named kaggle_lb_*, and its standings kept apart from the site's entries.

The key index and its state are renamed; the log of changed keys goes (no sync skips an unchanged
board any more, so nothing reads it); kaggle_lb_standings takes a copy of every entry in the
built-in leaderboard_entries (all of them written, so owned, by kaggle-lb), and kaggle_lb_syncs
starts empty. The revision itself moved to kaggle_lb_alembic_version (see migrate.py).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from kaggle_lb.storage.schema import own_metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_RENAMED = ("user_match_keys", "user_keys_state")


def upgrade() -> None:
    op.drop_index("ix_user_match_keys_match_key", "user_match_keys")
    op.drop_table("user_key_changes")
    with op.batch_alter_table("user_keys_state") as batch:
        batch.drop_column("log_start")
    for name in _RENAMED:
        op.rename_table(name, f"kaggle_lb_{name}")
    op.create_index("ix_kaggle_lb_user_match_keys_match_key", "kaggle_lb_user_match_keys", ["match_key"])
    if op.get_bind().dialect.name == "postgresql":
        # A site's ids may be bigint.
        op.alter_column("kaggle_lb_user_match_keys", "user_id", type_=sa.BigInteger)
    tables = own_metadata().tables
    for name in ("kaggle_lb_standings", "kaggle_lb_syncs"):
        tables[name].create(op.get_bind())
    op.execute(
        "INSERT INTO kaggle_lb_standings (competition_id, user_id, rank, score, team_id, team_name,"
        " submission_count, last_submission, first_synced, last_synced, site_row_id, owned)"
        " SELECT competition_id, user_id, rank, score, kaggle_team_id, kaggle_team_name, submission_count,"
        " submission_date, first_synced_at, last_synced_at, id, TRUE FROM leaderboard_entries"
    )


def downgrade() -> None:
    # The log of changed keys and its start are not restored: an older kaggle-lb rebuilds them.
    op.drop_table("kaggle_lb_syncs")
    op.drop_table("kaggle_lb_standings")
    op.drop_index("ix_kaggle_lb_user_match_keys_match_key", "kaggle_lb_user_match_keys")
    for name in _RENAMED:
        op.rename_table(f"kaggle_lb_{name}", name)
    op.create_index("ix_user_match_keys_match_key", "user_match_keys", ["match_key"])

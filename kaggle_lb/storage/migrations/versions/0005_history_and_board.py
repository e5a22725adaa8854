"""kaggle_lb_history, kaggle_lb_digests, and which board (public or private) each standing and
sync came from.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from kaggle_lb.storage.schema import PUBLIC, own_metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0004 creates kaggle_lb_standings and kaggle_lb_syncs from the current metadata, so a database
    # upgraded from before 0004 in the same run has the columns already.
    inspector = sa.inspect(op.get_bind())
    # Every standing so far came from the download, which is the public board.
    added = {
        "kaggle_lb_standings": sa.Column("board", sa.String(8), nullable=False, server_default=PUBLIC),
        "kaggle_lb_syncs": sa.Column("board", sa.String(8), nullable=True),
    }
    for table, column in added.items():
        if column.name not in {found["name"] for found in inspector.get_columns(table)}:
            with op.batch_alter_table(table) as batch:
                batch.add_column(column)
    for name in ("kaggle_lb_history", "kaggle_lb_digests"):
        own_metadata().tables[name].create(op.get_bind())


def downgrade() -> None:
    op.drop_table("kaggle_lb_digests")
    op.drop_table("kaggle_lb_history")
    with op.batch_alter_table("kaggle_lb_syncs") as batch:
        batch.drop_column("board")
    with op.batch_alter_table("kaggle_lb_standings") as batch:
        batch.drop_column("board")

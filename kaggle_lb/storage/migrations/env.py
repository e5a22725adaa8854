"""Alembic environment: runs on the connection kaggle-lb hands over, never on a URL of its own."""

from alembic import context

from kaggle_lb.storage.schema import VERSION_TABLE, own_metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=own_metadata(),
    # kaggle-lb's own version table: Alembic's default name would be shared with a site using Alembic.
    version_table=VERSION_TABLE,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()

"""The tables kaggle-lb reads and writes, as SQLAlchemy Core.

kaggle-lb's own tables are all named `kaggle_lb_*`: the standings it computed (and which site row
each one is written to), the history of their changes, its index of the users' match keys, and
one row per synced competition.
The site's users, competitions and entries are wherever the site schema says; the built-in ones
(`built_in_metadata`) are created by `kaggle-lb init` only for the sections the schema leaves to
kaggle-lb. The site's tables are bound by reflection, so their own column types are used.
"""

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from kaggle_lb.storage.site_schema import SiteSchema

PREFIX = "kaggle_lb_"
PUBLIC, PRIVATE = "public", "private"
VERSION_TABLE = "kaggle_lb_alembic_version"


def own_metadata() -> MetaData:
    metadata = MetaData()
    Table(
        "kaggle_lb_standings",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("competition_id", BigInteger, nullable=False),
        # NULL for a team no site user was credited for (written only with entries.unmatched_teams).
        Column("user_id", BigInteger, nullable=True),
        Column("rank", Integer, nullable=False),
        Column("score", Float, nullable=True),
        Column("team_id", BigInteger, nullable=False),
        Column("team_name", String(1024), nullable=False),
        Column("submission_count", Integer, nullable=True),
        Column("last_submission", DateTime(timezone=True), nullable=True),
        Column("first_synced", DateTime(timezone=True), nullable=False),
        Column("last_synced", DateTime(timezone=True), nullable=False),
        # The site's row this standing is written to, and whether kaggle-lb inserted it (and so
        # may delete it): a row the site made itself is only ever updated.
        Column("site_row_id", BigInteger, nullable=True),
        Column("owned", Boolean, nullable=False, server_default=true()),
        # Which of Kaggle's boards the rank and score come from: "public", or "private" once
        # Kaggle has one (see leaderboard.private_board).
        Column("board", String(8), nullable=False, server_default=PUBLIC),
        UniqueConstraint("competition_id", "user_id", name="uq_kaggle_lb_standings_competition_user"),
        Index("ix_kaggle_lb_standings_competition_team", "competition_id", "team_id"),
    )
    # One row per competition kaggle-lb has synced, written with its standings: the lock that
    # serializes its writers, when it last synced (freshness), and what the next sync's checks
    # compare with (a removed competition's row goes with it, so a re-added one starts afresh).
    Table(
        "kaggle_lb_syncs",
        metadata,
        Column("competition_id", BigInteger, primary_key=True, autoincrement=False),
        Column("synced_at", DateTime(timezone=True), nullable=True),
        Column("board_rows", Integer, nullable=True),
        Column("matched", Integer, nullable=True),
        Column("board", String(8), nullable=True),
        # What the standings were computed from (polling.fingerprint: the download, the view's first
        # page, the direction, the site schema) and the version of the users' keys they were matched
        # against: an unchanged poll is one that finds both as they were (see polling.decide).
        Column("fingerprint", String(64), nullable=True),
        Column("key_version", Integer, nullable=True),
    )
    # One row per competition a batch poll found unchanged (ops.leaderboard_batch): when it last confirmed
    # the standings still match Kaggle, and at which users' key version. Freshness counts it as a
    # sync; only the poll writes it.
    Table(
        "kaggle_lb_polls",
        metadata,
        Column("competition_id", BigInteger, primary_key=True, autoincrement=False),
        Column("confirmed_at", DateTime(timezone=True), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("key_version", Integer, nullable=False),
    )
    # The pace of every request to Kaggle, shared by every process that sends one (polling.pace):
    # the next free slot, a pause a 429 asked for, and the slow-down it left for the rest of the
    # window. One row.
    Table(
        "kaggle_lb_kaggle_pace",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("next_at", Float, nullable=False),
        Column("paused_until", Float, nullable=False),
        Column("slowdown", Float, nullable=False),
        Column("slowdown_until", Float, nullable=False),
    )
    # Every change of a site user's standing, written with the standings (storage.history): one
    # row when they enter the board, move (rank or score), or leave it; never for a poll that
    # changed nothing. Readable by the site; the README lists its columns.
    Table(
        "kaggle_lb_history",
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("competition_id", BigInteger, nullable=False),
        Column("user_id", BigInteger, nullable=False),
        Column("change", String(8), nullable=False),
        Column("old_rank", Integer, nullable=True),
        Column("new_rank", Integer, nullable=True),
        Column("old_score", Float, nullable=True),
        Column("new_score", Float, nullable=True),
        Column("board", String(8), nullable=False),
        Column("changed_at", DateTime(timezone=True), nullable=False),
        Index("ix_kaggle_lb_history_competition_user", "competition_id", "user_id", "id"),
        Index("ix_kaggle_lb_history_competition_time", "competition_id", "changed_at"),
    )
    # The community digest's state per competition (storage.digests): the last period it was sent
    # for and the last history row it covered, so it is sent at most once a period, restarts or not.
    Table(
        "kaggle_lb_digests",
        metadata,
        Column("competition_id", BigInteger, primary_key=True, autoincrement=False),
        Column("period", String(32), nullable=True),
        Column("last_history_id", BigInteger, nullable=False, server_default="0"),
        Column("sent_at", DateTime(timezone=True), nullable=True),
    )
    # kaggle-lb's index of the users table (see storage.user_keys): each user's match key with
    # the names it came from, and the version and time of the last refresh.
    Table(
        "kaggle_lb_user_match_keys",
        metadata,
        Column("user_id", BigInteger, primary_key=True, autoincrement=False),
        Column("match_key", Text, nullable=False, index=True),
        Column("username", Text, nullable=True),
        Column("kaggle_username", Text, nullable=True),
        # The key version in which this row was added or its key last changed: a poll asks only for
        # the keys changed since the standings it checks were matched.
        Column("changed_version", Integer, nullable=False, server_default="0", index=True),
    )
    Table(
        "kaggle_lb_user_keys_state",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
        Column("refreshed_at", DateTime(timezone=True), nullable=True),
    )
    return metadata


def built_in_metadata(schema: SiteSchema) -> MetaData:
    """The site tables kaggle-lb provides itself, for the sections `schema` leaves to it."""
    metadata = MetaData()
    users, competitions, entries = schema.users, schema.competitions, schema.entries
    if users.built_in:
        Table(
            users.table,
            metadata,
            Column(users.id, Integer, primary_key=True, autoincrement=True),
            Column(users.username, String(255), nullable=False, unique=True),
            Column(users.kaggle_username, String(255), nullable=True),
        )
    if competitions.built_in:
        Table(
            competitions.table,
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("slug", String(255), nullable=False, unique=True),
            Column("title", String(255), nullable=True),
            Column("is_active", Boolean, nullable=False, server_default=true()),
            # "higher" or "lower" is better; NULL lets the rank-order check infer it from the board.
            Column("score_direction", String(8), nullable=True),
        )
    if entries.built_in:
        # Foreign keys only to tables kaggle-lb creates: on PostgreSQL a foreign key adds triggers
        # to the table it references, which a site's table must never get.
        def reference(section, column: str):
            return [ForeignKey(f"{section.table}.{column}", ondelete="CASCADE")] if section.built_in else []

        Table(
            entries.table,
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("competition_id", BigInteger, *reference(competitions, "id"), nullable=False),
            Column("user_id", BigInteger, *reference(users, users.id), nullable=False, index=True),
            Column("rank", Integer, nullable=False),
            Column("score", Float, nullable=True),
            Column("kaggle_team_id", BigInteger, nullable=False),
            Column("kaggle_team_name", String(1024), nullable=False),
            Column("submission_count", Integer, nullable=True),
            Column("submission_date", DateTime(timezone=True), nullable=True),
            Column("first_synced_at", DateTime(timezone=True), nullable=False),
            Column("last_synced_at", DateTime(timezone=True), nullable=False),
            UniqueConstraint("competition_id", "user_id", name="uq_leaderboard_entries_competition_user"),
        )
    return metadata


@dataclass(frozen=True)
class Tables:
    """The tables of one database under one site schema, bound to their live definitions."""

    schema: SiteSchema
    users: Table
    competitions: Table
    entries: Table
    standings: Table
    syncs: Table
    history: Table
    digests: Table
    user_match_keys: Table
    user_keys_state: Table
    polls: Table
    kaggle_pace: Table

    @property
    def user_id(self) -> Column:
        return self.users.c[self.schema.users.id]

    @property
    def username(self) -> Column:
        return self.users.c[self.schema.users.username]

    @property
    def kaggle_username(self) -> Column:
        return self.users.c[self.schema.users.kaggle_username]


def _reflect(conn: Connection, metadata: MetaData, name: str, columns: list[str]) -> Table:
    # Only the mapped columns, and no tables behind their foreign keys: a site's tables are many.
    return Table(name, metadata, autoload_with=conn, include_columns=columns, resolve_fks=False)


def bind_tables(conn: Connection, schema: SiteSchema) -> Tables:
    """Tables for `schema`, the site's as the database defines them (see verify for the check)."""
    site = MetaData()
    users, competitions, entries = schema.users, schema.competitions, schema.entries
    competition_columns = [
        competitions.id,
        competitions.slug,
        competitions.title,
        competitions.higher_is_better,
        competitions.score_direction,
    ]
    if competitions.built_in:
        competition_columns.append("is_active")  # what `competitions activate` sets
    entry_columns = [entries.id, entries.competition, entries.user, *entries.columns]
    own = own_metadata().tables
    return Tables(
        schema=schema,
        users=_reflect(conn, site, users.table, [users.id, users.username, users.kaggle_username]),
        competitions=_reflect(conn, site, competitions.table, [c for c in competition_columns if c]),
        entries=_reflect(conn, site, entries.table, entry_columns),
        standings=own["kaggle_lb_standings"],
        syncs=own["kaggle_lb_syncs"],
        history=own["kaggle_lb_history"],
        digests=own["kaggle_lb_digests"],
        user_match_keys=own["kaggle_lb_user_match_keys"],
        user_keys_state=own["kaggle_lb_user_keys_state"],
        polls=own["kaggle_lb_polls"],
        kaggle_pace=own["kaggle_lb_kaggle_pace"],
    )

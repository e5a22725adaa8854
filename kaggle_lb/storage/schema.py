"""The tables kaggle-lb reads and writes, as SQLAlchemy Core.

The users table usually belongs to the platform's own application, so its name and columns are
configuration; kaggle-lb only reads it (and creates it when it does not exist, for a standalone
install or the demo).
"""

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)


@dataclass(frozen=True)
class UsersTableConfig:
    """Where the platform keeps its users: one table with an id, a username and a Kaggle username."""

    table: str = "users"
    id_column: str = "id"
    username_column: str = "username"
    kaggle_username_column: str = "kaggle_username"


@dataclass(frozen=True)
class Tables:
    metadata: MetaData
    competitions: Table
    users: Table
    leaderboard_entries: Table
    user_match_keys: Table
    user_key_changes: Table
    user_keys_state: Table

    @property
    def user_id(self) -> Column:
        return self.users.c[self.users_config.id_column]

    @property
    def username(self) -> Column:
        return self.users.c[self.users_config.username_column]

    @property
    def kaggle_username(self) -> Column:
        return self.users.c[self.users_config.kaggle_username_column]

    users_config: UsersTableConfig = UsersTableConfig()


def build_tables(users_config: UsersTableConfig = UsersTableConfig()) -> Tables:
    metadata = MetaData()
    competitions = Table(
        "competitions",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("slug", String(255), nullable=False, unique=True),
        Column("title", String(255), nullable=True),
        Column("is_active", Boolean, nullable=False, server_default=true()),
        # "higher" or "lower" is better; NULL lets the rank-order check infer it from the board.
        Column("score_direction", String(8), nullable=True),
    )
    users = Table(
        users_config.table,
        metadata,
        Column(users_config.id_column, Integer, primary_key=True, autoincrement=True),
        Column(users_config.username_column, String(255), nullable=False, unique=True),
        Column(users_config.kaggle_username_column, String(255), nullable=True),
    )
    leaderboard_entries = Table(
        "leaderboard_entries",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(
            "competition_id",
            Integer,
            ForeignKey(competitions.c.id, ondelete="CASCADE"),
            nullable=False,
        ),
        Column(
            "user_id",
            Integer,
            ForeignKey(users.c[users_config.id_column], ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
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
    # kaggle-lb's own index of the users table (see storage.user_keys): each user's match key with
    # the names it came from, the keys each refresh changed, and the version the log starts at.
    user_match_keys = Table(
        "user_match_keys",
        metadata,
        Column("user_id", Integer, primary_key=True, autoincrement=False),
        Column("match_key", Text, nullable=False, index=True),
        Column("username", Text, nullable=True),
        Column("kaggle_username", Text, nullable=True),
    )
    user_key_changes = Table(
        "user_key_changes",
        metadata,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("match_key", Text, primary_key=True),
    )
    user_keys_state = Table(
        "user_keys_state",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
        Column("log_start", Integer, nullable=False),
        Column("refreshed_at", DateTime(timezone=True), nullable=True),
    )
    return Tables(
        metadata=metadata,
        competitions=competitions,
        users=users,
        leaderboard_entries=leaderboard_entries,
        user_match_keys=user_match_keys,
        user_key_changes=user_key_changes,
        user_keys_state=user_keys_state,
        users_config=users_config,
    )


"""kaggle-lb's index of the users' match keys: the refresh diff, the change log, the lookup."""

import pandas as pd
from sqlalchemy import delete, select, update

from kaggle_lb.leaderboard.matching import user_keys as keys_of
from kaggle_lb.storage import registry, user_keys


def _keys(conn, tables) -> dict[int, str]:
    index = tables.user_match_keys
    return dict(conn.execute(select(index.c.user_id, index.c.match_key)).all())


def test_first_refresh_indexes_every_user_with_a_key(database):
    tables = database.tables
    with database.begin() as conn:
        registry.import_users(conn, tables, [("Ann", " AnnK "), ("bo", None), ("cy", ""), ("  ", None)])
        first = user_keys.read_state(conn, tables).version  # init built the (then empty) index
        refreshed = user_keys.refresh(conn, tables)
        again = user_keys.refresh(conn, tables)
        users = registry.load_users(conn, tables)
        stored = _keys(conn, tables)

    assert (refreshed.users, refreshed.added, refreshed.version) == (4, 4, first + 1)
    assert (again.added, again.changed, again.removed, again.version) == (0, 0, 0, first + 1)
    # A user without a usable name gets the empty key, which no board key equals.
    assert stored == dict(zip(users["user_id"], pd.Series(keys_of(users)).fillna("")))
    assert sorted(stored.values()) == ["", "annk", "bo", "cy"]


def test_refresh_writes_only_the_changes(database):
    tables = database.tables
    with database.begin() as conn:
        registry.import_users(conn, tables, [("ann", "a1"), ("bo", None), ("cy", None)])
        first = user_keys.refresh(conn, tables).version
        unchanged = user_keys.refresh(conn, tables)
        registry.import_users(conn, tables, [("ann", "a2"), ("dee", None)])
        users = tables.users
        conn.execute(delete(users).where(tables.username == "cy"))
        refreshed = user_keys.refresh(conn, tables)
        stored = set(_keys(conn, tables).values())
        # Another case is the same key: the copy of the names is updated, no new version.
        registry.import_users(conn, tables, [("ann", "A2")])
        recased = user_keys.refresh(conn, tables)
        after_recase = user_keys.refresh(conn, tables)

    assert (unchanged.added, unchanged.changed, unchanged.removed, unchanged.version) == (0, 0, 0, first)
    assert (recased.changed, recased.version) == (0, first + 1)
    assert after_recase == recased
    assert (refreshed.added, refreshed.changed, refreshed.removed, refreshed.version) == (1, 1, 1, first + 1)
    assert stored == {"a2", "bo", "dee"}


def test_board_users_are_exactly_the_users_matching_credits(database):
    """The keys are matching.fold's (Python's strip(), ASCII letters lower-cased): ß, the Kelvin
    sign, the long s and İ are kept, and what strip() trims is more than SQL's trim()."""
    users = [
        ("ann", " Straße "),
        ("kel", "\u212aelvin"),
        ("sam", "ſam"),
        ("Bo", None),
        ("cy", "  "),
        ("dee", "other"),
        ("ëve", None),
        ("İsa", None),
        ("tab", "\tTab\x1c"),
    ]
    keys = {"straße", "\u212aelvin", "ſam", "bo", "cy", "ëve", "tab", "İsa"}
    with database.begin() as conn:
        registry.import_users(conn, database.tables, users)
        user_keys.refresh(conn, database.tables)
        everyone = registry.load_users(conn, database.tables)
        board_users = user_keys.load_board_users(conn, database.tables, keys)
        nobody = user_keys.load_board_users(conn, database.tables, {"no-such-user"})
    expected = everyone[[key in keys for key in keys_of(everyone)]].reset_index(drop=True)
    assert board_users.equals(expected)
    assert set(board_users["username"]) == {"ann", "kel", "sam", "Bo", "cy", "ëve", "tab", "İsa"}
    assert nobody.empty and list(nobody.columns) == ["user_id", "username", "kaggle_username"]


def test_a_user_renamed_or_deleted_since_the_refresh_is_never_credited_under_the_old_key(database):
    tables = database.tables
    with database.begin() as conn:
        registry.import_users(conn, tables, [("ann", "old-name"), ("bo", None)])
        user_keys.refresh(conn, tables)
        registry.import_users(conn, tables, [("ann", "new-name")])
        conn.execute(delete(tables.users).where(tables.username == "bo"))

        assert user_keys.load_board_users(conn, tables, {"old-name", "bo"}).empty
        user_keys.refresh(conn, tables)
        assert user_keys.load_board_users(conn, tables, {"old-name", "bo"}).empty
        assert list(user_keys.load_board_users(conn, tables, {"new-name"})["username"]) == ["ann"]


def test_a_change_of_the_key_rule_rewrites_every_stored_key(database):
    """The refresh diffs the users' names, which a new rule leaves as they were: the rule the keys
    were stored under is what makes it compute them all again."""
    tables = database.tables
    state, index = tables.user_keys_state, tables.user_match_keys
    with database.begin() as conn:
        registry.import_users(conn, tables, [("ann", "Straße"), ("bo", None), ("fi", "\ufb01ona")])
        user_keys.refresh(conn, tables)
        # A database indexed before this rule: keys case-folded, the state table's first row only.
        for user_id, key in _keys(conn, tables).items():
            conn.execute(update(index).where(index.c.user_id == user_id).values(match_key=key.casefold()))
        conn.execute(delete(state).where(state.c.id != 1))
        before = user_keys.read_state(conn, tables).version

        refreshed = user_keys.refresh(conn, tables)
        again = user_keys.refresh(conn, tables)
        stored = _keys(conn, tables)

    assert sorted(stored.values()) == ["bo", "straße", "\ufb01ona"]
    assert (refreshed.added, refreshed.changed, refreshed.removed, refreshed.version) == (0, 2, 0, before + 1)
    assert (again.changed, again.version) == (0, before + 1)


def test_each_key_records_the_version_it_last_changed_in(database):
    """What a poll asks for when the users' keys moved on since a board was matched: only the keys
    added or changed since, not the users merely renamed under the same key."""
    tables = database.tables
    index = tables.user_match_keys
    with database.begin() as conn:
        registry.import_users(conn, tables, [("ann", "a1"), ("bo", None), ("cy", None)])
        first = user_keys.refresh(conn, tables).version
        registry.import_users(conn, tables, [("ann", "a2"), ("bo", "BO"), ("dee", None)])
        second = user_keys.refresh(conn, tables).version
        versions = dict(conn.execute(select(index.c.match_key, index.c.changed_version)).all())

    assert second == first + 1
    # ann's key changed and dee is new; bo's Kaggle name folds to the key bo already had.
    assert versions == {"a2": second, "dee": second, "bo": first, "cy": first}

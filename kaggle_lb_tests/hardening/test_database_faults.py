"""Database faults during the write: a connection lost mid-transaction, two writers of one
competition at once, a user deleted while the sync runs. On SQLite and PostgreSQL alike."""

import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, delete, event, text
from sqlalchemy.exc import DBAPIError

from kaggle_lb.leaderboard.matching import match_entries
from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.resources.leaderboard_source import LocalExportsResource
from kaggle_lb.storage import registry, standings
from kaggle_lb_tests.databases import dump_entries
from kaggle_lb_tests.hardening.conftest import GOOD_BOARD, SLUG, AssetSync, board, step_failure

# Against GOOD_BOARD: alice and bob leave, carol moves up, dave arrives. A write of it deletes,
# updates and inserts, in that order.
NEXT_BOARD = board(
    '1,102,carol,"2026-11-05 11:00:00",0.97,3,carol',
    '2,104,"Dave Solo","2026-11-03 12:00:00",0.85,7,dave',
)
DML = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def listening(name: str, listener):
    """A listener on every engine (the run builds its own from the resource), removed afterwards."""
    event.listen(Engine, name, listener)
    try:
        yield
    finally:
        event.remove(Engine, name, listener)


def on_database(conn, database: DatabaseResource) -> bool:
    return conn.engine.url.database == database.sqlalchemy_url.database


def writes_entries(statement: str, verb: str | None = None) -> bool:
    words = statement.lstrip().split(None, 1)
    return bool(words) and words[0] in ((verb,) if verb else DML) and "leaderboard_entries" in statement


@pytest.fixture
def exports(tmp_path):
    directory = tmp_path / "exports"
    directory.mkdir()
    (directory / f"{SLUG}.csv").write_bytes(GOOD_BOARD)
    return directory


@pytest.fixture
def sync(site, exports, tmp_path):
    with site.begin() as conn:
        registry.import_users(conn, site.tables, [("dave", None)])
    return AssetSync(site, LocalExportsResource(directory=str(exports)), tmp_path / "raw")


def standings_of(database: DatabaseResource) -> dict[str, int]:
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, SLUG)
        return {row["username"]: row["rank"] for row in standings.read_standings(conn, database.tables, competition.id)}


def _kill(cursor, database: DatabaseResource) -> None:
    """Lose the connection under the running transaction, as a crash or a restart would."""
    if database.sqlalchemy_url.get_backend_name() == "sqlite":
        cursor.connection.close()  # SQLite discards the open transaction
        return
    pid = cursor.connection.get_backend_pid()
    admin = create_engine(database.sqlalchemy_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            # Termination is a signal; wait until the backend is really gone.
            deadline = time.monotonic() + 10
            while other.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).first():
                assert time.monotonic() < deadline, "the backend survived pg_terminate_backend"
                time.sleep(0.02)
    finally:
        admin.dispose()


@pytest.mark.parametrize("verb", ["DELETE", "INSERT"])
def test_a_connection_lost_mid_write_keeps_exactly_the_previous_standings(sync, site, exports, verb):
    assert sync().success
    before = dump_entries(site)
    (exports / f"{SLUG}.csv").write_bytes(NEXT_BOARD)
    killed = []

    def kill_at_the_write(conn, cursor, statement, parameters, context, executemany):
        if not killed and on_database(conn, site) and writes_entries(statement, verb):
            killed.append(statement)
            _kill(cursor, site)

    with listening("before_cursor_execute", kill_at_the_write):
        result = sync()

    assert killed, "the write never started"
    assert not result.success
    assert step_failure(result)[0] == "matched_entries"
    # Statements that ran before the kill (the DELETE, for INSERT) were rolled back with it.
    assert dump_entries(site) == before
    # The next sync finds a fresh connection and lands the new board.
    assert sync().success
    assert standings_of(site) == {"carol": 1, "dave": 2}


def _sync_in_transaction(database: DatabaseResource, competition_id: int, content: bytes):
    """What matched_entries does: read the users, match, write, all in one transaction."""
    board_frame = parse_leaderboard(content, SLUG)
    with database.begin() as conn:
        users = registry.load_users(conn, database.tables)
        result = match_entries(board_frame, users)
        return standings.write_standings(conn, database.tables, competition_id, result.entries)


def test_two_writers_of_one_competition_are_serialized(site):
    with site.begin() as conn:
        competition_id = registry.get_competition(conn, site.tables, SLUG).id
    slowed = set()

    def hold_the_first_write(conn, cursor, statement, parameters, context, executemany):
        # Each writer pauses once at its first entry write, so the other one starts meanwhile:
        # without a lock both would diff against the same empty table and insert twice.
        if on_database(conn, site) and writes_entries(statement) and threading.get_ident() not in slowed:
            slowed.add(threading.get_ident())
            time.sleep(0.5)

    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def writer(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = _sync_in_transaction(site, competition_id, GOOD_BOARD).as_dict()
        except Exception as error:  # reported below, with its type
            outcomes[name] = error

    with listening("before_cursor_execute", hold_the_first_write):
        threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

    assert all(isinstance(outcome, dict) for outcome in outcomes.values()), outcomes
    # One created the entries; the other waited, saw them, and wrote nothing.
    assert sorted(outcomes.values(), key=lambda counts: counts["created"]) == [
        {"created": 0, "updated": 0, "unchanged": 3, "removed": 0},
        {"created": 3, "updated": 0, "unchanged": 0, "removed": 0},
    ]
    assert len(dump_entries(site)) == 3
    assert standings_of(site) == {"alice": 1, "bob": 1, "carol": 2}


def test_a_user_deleted_while_the_sync_runs_simply_gets_no_entry(sync, site, exports):
    assert sync().success
    (exports / f"{SLUG}.csv").write_bytes(NEXT_BOARD)
    users = site.tables.users
    deleted = []

    def delete_dave_after_the_users_were_read(conn, cursor, statement, parameters, context, executemany):
        # The board's users, read through the key index (not the key refresh before it).
        reads_users = (
            statement.lstrip().startswith("SELECT") and "json_values" in statement and "user_match_keys" in statement
        )
        if not deleted and on_database(conn, site) and reads_users:
            deleted.append(statement)
            # Another connection, committed at once: the site deleting the account mid-sync.
            other = create_engine(site.sqlalchemy_url)
            try:
                with other.begin() as admin:
                    admin.execute(delete(users).where(site.tables.username == "dave"))
            finally:
                other.dispose()

    with listening("after_cursor_execute", delete_dave_after_the_users_were_read):
        result = sync()

    assert deleted, "the sync never read the users"
    assert result.success, step_failure(result)
    assert standings_of(site) == {"carol": 1}
    assert sync().success
    assert standings_of(site) == {"carol": 1}


def test_a_user_deleted_between_reading_and_writing_is_not_a_foreign_key_error(site):
    # The same race, pinned down without Dagster: the users are read, then one is deleted.
    with site.begin() as conn:
        competition_id = registry.get_competition(conn, site.tables, SLUG).id
    with site.begin() as conn:
        result = match_entries(parse_leaderboard(GOOD_BOARD, SLUG), registry.load_users(conn, site.tables))
        other = create_engine(site.sqlalchemy_url)
        try:
            with other.begin() as admin:
                admin.execute(delete(site.tables.users).where(site.tables.username == "bob"))
        finally:
            other.dispose()
        counts = standings.write_standings(conn, site.tables, competition_id, result.entries)

    assert counts.created == 2
    assert standings_of(site) == {"alice": 1, "carol": 2}


def test_the_driver_error_of_a_lost_connection_is_what_the_caller_sees(site):
    # write_standings adds no handling of its own: the transaction's rollback is the guarantee.
    with site.begin() as conn:
        competition_id = registry.get_competition(conn, site.tables, SLUG).id

    def kill(conn, cursor, statement, parameters, context, executemany):
        if on_database(conn, site) and writes_entries(statement, "INSERT"):
            _kill(cursor, site)

    with listening("before_cursor_execute", kill), pytest.raises(DBAPIError):
        _sync_in_transaction(site, competition_id, GOOD_BOARD)
    assert dump_entries(site) == []


def _hold_the_competitions_lock(
    database: DatabaseResource, take: threading.Event, taken: threading.Event, release: threading.Event
) -> None:
    """Another writer: on `take`, hold what the sync's write must wait for until `release` (or 30 s),
    on a connection of its own: the competition's kaggle_lb_syncs row, or SQLite's write lock."""
    other = create_engine(database.sqlalchemy_url)
    try:
        with other.connect() as conn:
            take.wait(30)
            if database.sqlalchemy_url.get_backend_name() == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.execute(text("SELECT competition_id FROM kaggle_lb_syncs FOR UPDATE"))
            taken.set()
            release.wait(30)
            conn.rollback()
    finally:
        other.dispose()


def test_a_sync_waiting_on_another_writers_lock_gives_up_within_the_bound_and_writes_nothing(site, exports, tmp_path):
    bounded = DatabaseResource(url=site.url, home=site.home, lock_timeout_seconds=1)
    with bounded.begin() as conn:
        registry.import_users(conn, bounded.tables, [("dave", None)])
    sync = AssetSync(bounded, LocalExportsResource(directory=str(exports)), tmp_path / "raw")
    assert sync().success
    before = dump_entries(site)
    (exports / f"{SLUG}.csv").write_bytes(NEXT_BOARD)
    take, taken, release = threading.Event(), threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_the_competitions_lock, args=(site, take, taken, release))
    holder.start()
    waited = []

    def lock_before_the_write(conn, cursor, statement, parameters, context, executemany):
        # The write's first statement takes the competition's lock: another writer got there first.
        if (
            not take.is_set()
            and on_database(conn, site)
            and statement.lstrip().startswith("INSERT INTO kaggle_lb_syncs")
        ):
            take.set()
            assert taken.wait(30)
            waited.append(time.monotonic())

    try:
        with listening("before_cursor_execute", lock_before_the_write):
            result = sync()
        waited.append(time.monotonic())
    finally:
        release.set()
        holder.join(60)

    assert len(waited) == 2, "the write never started"
    assert waited[1] - waited[0] < 15  # 1 s, and the run's own work: not the 30 s the other writer holds
    step, description = step_failure(result)
    assert step == "matched_entries"
    assert description.startswith(f"competition '{SLUG}': ")
    assert "waited more than 1 s (lock_timeout_seconds) for a lock another writer held" in description
    assert "nothing was written" in description
    assert dump_entries(site) == before
    assert standings_of(site) == {"alice": 1, "bob": 1, "carol": 2}


def test_every_connection_of_kaggle_lbs_bounds_its_waits(site):
    bounded = DatabaseResource(url=site.url, home=site.home, lock_timeout_seconds=2.5, statement_timeout_seconds=90)
    try:
        with bounded.begin() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
            else:
                assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "2500ms"
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "90s"
    finally:
        bounded.dispose()

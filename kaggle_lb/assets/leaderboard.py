"""raw_leaderboard_csv -> validated_leaderboard -> matched_entries, one partition per competition.

The assets only orchestrate and report: downloading, parsing, matching and writing live in
`kaggle_lb.resources`, `kaggle_lb.leaderboard` and `kaggle_lb.storage`.
"""

import hashlib
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    ResourceParam,
    TableColumn,
    TableSchema,
    asset,
)
from sqlalchemy.exc import DBAPIError

from kaggle_lb.assets.check_results import (
    MATCHED_CHECK_SPECS,
    RAW_CHECK_SPECS,
    VALIDATED_CHECK_SPECS,
    check_result,
    not_checked,
)
from kaggle_lb.assets.users import USER_MATCH_KEYS
from kaggle_lb.errors import KaggleLbError
from kaggle_lb.leaderboard import missing, private_board
from kaggle_lb.leaderboard.matching import row_keys, with_unmatched_teams
from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.leaderboard.schema import LeaderboardModel
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.polling.fingerprint import board_fingerprint
from kaggle_lb.quality import board_checks
from kaggle_lb.quality.markdown import markdown_table
from kaggle_lb.resources.csv_io_manager import CsvFileIOManager
from kaggle_lb.resources.database import DatabaseResource, describe_database_error, lock_timed_out
from kaggle_lb.resources.leaderboard_source import LeaderboardSource
from kaggle_lb.resources.quality import QualitySettingsResource
from kaggle_lb.storage import registry, standings, user_keys
from kaggle_lb.storage.schema import PRIVATE, PUBLIC

GROUP = "leaderboard"
# Every step that talks to Kaggle: its limit is how many requests may be in flight at once.
KAGGLE_API_POOL = "kaggle_api"
MATCHED_ENTRIES = AssetKey("matched_entries")
RAW_LEADERBOARD = AssetKey("raw_leaderboard_csv")
VALIDATED_LEADERBOARD = AssetKey("validated_leaderboard")
ERROR = AssetCheckSeverity.ERROR


def _failure(error: KaggleLbError) -> Failure:
    """A Dagster failure whose description and metadata name the competition and the cause."""
    return Failure(
        description=str(error),
        metadata={"competition": error.competition, "cause": MetadataValue.md(error.cause)},
        allow_retries=False,
    )


# The most users with a Kaggle username a sync lists as missing from the board; a site with more
# lists them with `kaggle-lb missing SLUG`, which has no time limit.
MISSING_USERS_LIMIT = 10_000


def _missing_users(database: DatabaseResource, board: pd.DataFrame) -> dict:
    """The materialization's `missing_users`: the site users with a Kaggle username the board does
    not name, with the closest name on it (typos first). Read-only."""
    with database.begin() as conn:
        users = registry.kaggle_usernames(conn, database.tables, limit=MISSING_USERS_LIMIT + 1)
    if len(users) > MISSING_USERS_LIMIT:
        return {
            "missing_users": f"more than {MISSING_USERS_LIMIT} users have a Kaggle username: see `kaggle-lb missing`"
        }
    found = missing.missing_users(row_keys(board.reset_index(drop=True))[1], users)
    table = pd.DataFrame(
        [(m.username, m.kaggle_username, m.closest, m.distance) for m in found[:50]],
        columns=["username", "kaggle_username", "closest on the board", "edits"],
    ).astype({"edits": "Int64"})
    return {
        "missing_count": len(found),
        "missing_users": MetadataValue.md(markdown_table(table) if len(table) else "_nobody missing_"),
    }


def _registered_competition(context: AssetExecutionContext, database: DatabaseResource):
    """The competition behind this partition, or None (logged) when it was removed meanwhile:
    a queued run can outlive its competition or its partition."""
    slug = context.partition_key
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, slug)
    if competition is None:
        context.log.warning(f"competition '{slug}' is no longer registered: nothing to do")
    elif not context.instance.has_dynamic_partition(competitions_partitions.name, slug):
        context.log.warning(f"competition '{slug}' no longer has a partition: nothing to do")
        return None
    return competition


@asset(
    partitions_def=competitions_partitions,
    io_manager_key="raw_csv_io_manager",
    output_required=False,
    pool=KAGGLE_API_POOL,
    group_name=GROUP,
    kinds={"kaggle", "csv"},
    check_specs=RAW_CHECK_SPECS,
)
def raw_leaderboard_csv(
    context: AssetExecutionContext, leaderboard_source: LeaderboardSource, database: DatabaseResource
) -> Iterator[Output[bytes] | AssetCheckResult]:
    """The leaderboard CSV exactly as Kaggle sent it, kept as a readable file per competition;
    its header must name the columns of a Kaggle export (blocking, before anything parses it)."""
    slug = context.partition_key
    if _registered_competition(context, database) is None:
        yield from not_checked(RAW_CHECK_SPECS, slug)
        return
    try:
        download = leaderboard_source.download_leaderboard(slug)
    except KaggleLbError as error:
        raise _failure(error) from error
    yield Output(
        download.content,
        metadata={
            "competition": slug,
            "bytes": len(download.content),
            "sha256": hashlib.sha256(download.content).hexdigest(),
            "file_name": download.file_name,
            "downloaded_at": MetadataValue.timestamp(download.downloaded_at),
        },
    )
    header = board_checks.header_of(download.content)
    yield check_result(
        RAW_LEADERBOARD, "required_columns_check", slug, board_checks.required_columns(header, slug), ERROR
    )


@asset(
    partitions_def=competitions_partitions,
    group_name=GROUP,
    kinds={"pandas", "pandera"},
    check_specs=VALIDATED_CHECK_SPECS,
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn(name, str(column.dtype), description=column.description)
                for name, column in LeaderboardModel.to_schema().columns.items()
            ]
        )
    },
)
def validated_leaderboard(
    context: AssetExecutionContext,
    raw_leaderboard_csv: bytes,
    database: DatabaseResource,
    quality: QualitySettingsResource,
    leaderboard_source: LeaderboardSource,
) -> Iterator[Output[pd.DataFrame] | AssetCheckResult]:
    """The board that counts in one canonical shape whatever the export's age: the download, or
    Kaggle's private board with the download's members once there is one; read and validated
    once against LeaderboardModel (the schema the UI shows), and the board's checks on that frame
    (blocking: a failing one keeps the board from the site's table). Which board it is travels
    with the frame (`attrs["board"]`) to matched_entries, and so does what it was computed from
    (`attrs["fingerprint"]`, see polling.fingerprint)."""
    slug = context.partition_key
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, slug)
        existing = standings.count_entries(conn, database.tables, competition.id) if competition else 0
        last = standings.last_sync(conn, database.tables, competition.id) if competition else None
    direction = competition.score_direction if competition else None
    try:
        board = parse_leaderboard(raw_leaderboard_csv, slug, direction)
        legacy = board["submission_count"].isna().all() and (board["member_usernames"] == "").all()
        first_page = leaderboard_source.view_first_page(slug)
        view = leaderboard_source.private_view(slug, board, first_page) if first_page is not None else None
        final = private_board.private_standings(board, view, slug) if view is not None else None
    except KaggleLbError as error:
        raise _failure(error) from error
    absent = final.missing if final else []
    if absent:
        context.log.warning(
            f"competition '{slug}': {len(absent)} team(s) on the private board are not in the download, so "
            "nobody is credited for them: " + ", ".join(f"{row.team_id} ({row.team_name!r})" for row in absent[:20])
        )
    if final is not None:
        board = final.board
    board.attrs["board"] = PRIVATE if final is not None else PUBLIC
    board.attrs["fingerprint"] = board_fingerprint(raw_leaderboard_csv, first_page, direction, database.tables.schema)
    yield Output(
        board,
        metadata={
            "competition": slug,
            "dagster/row_count": len(board),
            "board": board.attrs["board"],
            "format": "legacy (2023 and before)" if len(board) and legacy else "current",
            "benchmark_rows": int((board["rank"] == 0).sum()),
            "best_score": float(board["score"].iloc[0]) if len(board) else None,
            **(
                {
                    "missing_from_download": MetadataValue.md(
                        markdown_table(
                            pd.DataFrame(
                                [(row.team_id, row.team_name, row.score) for row in absent[:50]],
                                columns=["TeamId", "TeamName", "Score"],
                            )
                        )
                    )
                }
                if absent
                else {}
            ),
        },
    )
    outcomes = {
        "unique_team_ids_check": board_checks.unique_team_ids(board),
        "not_empty_check": board_checks.not_empty(board, existing),
        "row_count_drop_check": board_checks.row_count_drop(
            board, last.board_rows if last else None, quality.max_row_drop_fraction, existing
        ),
        "scores_vary_check": board_checks.scores_vary(board, quality.min_rows_for_score_check),
        "ranks_follow_scores_check": board_checks.ranks_follow_scores(board, direction),
    }
    for name, outcome in outcomes.items():
        yield check_result(VALIDATED_LEADERBOARD, name, slug, outcome, ERROR)


@asset(
    partitions_def=competitions_partitions,
    output_required=False,
    group_name=GROUP,
    kinds={"sql"},
    deps=[USER_MATCH_KEYS],
    check_specs=MATCHED_CHECK_SPECS,
)
def matched_entries(
    context: AssetExecutionContext,
    validated_leaderboard: pd.DataFrame,
    database: DatabaseResource,
    quality: QualitySettingsResource,
    raw_csv_io_manager: ResourceParam[CsvFileIOManager],
) -> Iterator[MaterializeResult]:
    """The site users found on the board, written to the site's entries table in one transaction,
    with what the checks need from that transaction: the standings read back, the last sync."""
    slug = context.partition_key
    tables = database.tables
    board = validated_leaderboard
    which = board.attrs.get("board", PUBLIC)
    competition = _registered_competition(context, database)
    try:
        if competition is None:
            raise standings.CompetitionRemovedError(slug)
        with database.begin() as conn:
            previous = standings.last_sync(conn, tables, competition.id)
            # Read before the keys are: a refresh in between makes the next poll look again, never skip.
            key_version = user_keys.read_state(conn, tables).version
            result, users = user_keys.match_board(conn, tables, board)
            entries = (
                with_unmatched_teams(board, result.entries) if tables.schema.entries.unmatched_teams else result.entries
            )
            counts = standings.write_standings(conn, tables, competition.id, entries, board=which)
            stored = standings.load_entries(conn, tables, competition.id)
            standings.record_sync(
                conn,
                tables,
                competition.id,
                board_rows=len(board),
                matched=len(result.entries),
                board=which,
                fingerprint=board.attrs.get("fingerprint"),
                key_version=key_version,
            )
    except standings.CompetitionRemovedError:
        # A failure, not a silent end: the asset's checks cannot be left unreported otherwise.
        raw_csv_io_manager.remove(RAW_LEADERBOARD, slug)
        raise Failure(
            description=f"competition '{slug}' was removed during its sync; nothing written",
            metadata={"competition": slug},
            allow_retries=False,
        ) from None
    except standings.SiteWriteError as error:
        raise _failure(KaggleLbError(slug, str(error))) from error
    except DBAPIError as error:
        cause = describe_database_error(error, database.display_url)
        if lock_timed_out(error):
            cause = (
                f"writing the standings waited more than {database.lock_timeout_seconds:g} s (lock_timeout_seconds) "
                "for a lock another writer held (another sync of this competition, or the site writing the same "
                f"rows); nothing was written: {cause}"
            )
        else:
            cause = f"writing the standings failed, nothing was written: {cause}"
        raise _failure(KaggleLbError(slug, cause)) from error

    summary = {**counts.as_dict(), "skipped": result.skipped}
    context.log.info(f"competition '{slug}': " + ", ".join(f"{n} {k}" for k, n in summary.items()))
    switched = which == PRIVATE and (previous is None or previous.board != PRIVATE)
    if switched:
        context.log.info(f"competition '{slug}': final standings: private board (ranks and scores from it from now on)")
    preview = result.entries.head(10).merge(users[["user_id", "username"]], on="user_id")[
        ["rank", "username", "score", "kaggle_team_name"]
    ]
    match_rate = board_checks.match_rate(
        len(result.entries), previous.matched if previous else None, quality.max_match_drop_fraction
    )
    missing_people = _missing_users(database, board)
    claims = board_checks.contested_names(result.contested)
    if not claims.passed:
        context.log.warning(f"competition '{slug}': {claims.description}")
    yield MaterializeResult(
        metadata={
            "competition": slug,
            **summary,
            "dagster/row_count": len(result.entries),
            "board_rows": len(board),
            "board": which,
            "switched_to_private_board": switched,
            "preview": MetadataValue.md(markdown_table(preview) if len(preview) else "_no matches_"),
            **claims.metadata,
            **missing_people,
        },
        check_results=[
            check_result(MATCHED_ENTRIES, "match_rate_check", slug, match_rate, AssetCheckSeverity.WARN),
            check_result(
                MATCHED_ENTRIES,
                "reconciliation_check",
                slug,
                board_checks.reconciliation(stored, result.entries),
                AssetCheckSeverity.WARN,
            ),
            check_result(MATCHED_ENTRIES, "claims_check", slug, claims, AssetCheckSeverity.WARN),
        ],
    )

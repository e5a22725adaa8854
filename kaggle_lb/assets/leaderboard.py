"""raw_leaderboard_csv -> validated_leaderboard -> matched_entries, one partition per competition.

The assets only orchestrate and report: downloading, parsing, matching and writing live in
`kaggle_lb.resources`, `kaggle_lb.leaderboard` and `kaggle_lb.storage`.
"""

import csv
import hashlib
import io
import warnings
from collections.abc import Iterator

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetRecordsFilter,
    BetaWarning,
    Failure,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)
from dagster_pandera import pandera_schema_to_dagster_type
from sqlalchemy.exc import DBAPIError

from kaggle_lb.errors import KaggleLbError
from kaggle_lb.assets.users import USER_MATCH_KEYS, refresh_metadata
from kaggle_lb.leaderboard.matching import board_mentions, with_unmatched_teams
from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.leaderboard.schema import LeaderboardModel
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.resources.database import DatabaseResource, describe_database_error
from kaggle_lb.resources.leaderboard_source import LeaderboardSource
from kaggle_lb.storage import registry, standings, user_keys

GROUP = "leaderboard"
# Set by the schedule: only scheduled runs may skip an unchanged board; a run by hand always processes.
TRIGGER_TAG = "kaggle_lb/trigger"
SCHEDULED = "schedule"
MATCHED_ENTRIES = AssetKey("matched_entries")
RAW_LEADERBOARD = AssetKey("raw_leaderboard_csv")

with warnings.catch_warnings():
    # The converter is marked beta; it is still the supported way to show the schema in the UI.
    warnings.simplefilter("ignore", BetaWarning)
    LeaderboardFrame = pandera_schema_to_dagster_type(LeaderboardModel)


def _failure(error: KaggleLbError) -> Failure:
    """A Dagster failure whose description and metadata name the competition and the cause."""
    return Failure(
        description=str(error),
        metadata={"competition": error.competition, "cause": MetadataValue.md(error.cause)},
        allow_retries=False,
    )


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


def _latest_metadata(context: AssetExecutionContext, asset_key: AssetKey) -> dict:
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, asset_partitions=[context.partition_key]), limit=1
    ).records
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}


def _unchanged_since_last_sync(context: AssetExecutionContext, sha256: str) -> dict | None:
    """The last completed sync's inputs when these bytes are both what it used and the latest
    board stored: a bad board in between must be replaced by a real run, whose checks then
    record the recovery. None when the bytes must be processed."""
    synced = _latest_metadata(context, MATCHED_ENTRIES)
    if synced.get("source_sha256") != sha256 or _latest_metadata(context, RAW_LEADERBOARD).get("sha256") != sha256:
        return None
    return synced


def _board_users_changed(database: DatabaseResource, content: bytes, version: int | None) -> bool:
    """Whether a user this board could credit changed since the sync that read user keys at
    `version`: the few changed keys are looked for in the bytes, which are never parsed here."""
    with database.begin() as conn:
        changed = user_keys.changed_keys_since(conn, database.tables, version)
    return changed is None or board_mentions(content, changed)


def _refresh_user_keys(context: AssetExecutionContext, database: DatabaseResource) -> None:
    """A run by hand (after a fix, for a new competition, from the CLI) sees every user change at
    once; a scheduled run relies on user_match_keys_schedule, unless no refresh ever ran."""
    with database.begin() as conn:
        if context.run.tags.get(TRIGGER_TAG) == SCHEDULED and user_keys.read_state(
            conn, database.tables
        ).refreshed_at is not None:
            return
        refreshed = user_keys.refresh(conn, database.tables)
    if refreshed.added or refreshed.changed or refreshed.removed:
        context.log_event(AssetMaterialization(asset_key=USER_MATCH_KEYS, metadata=refresh_metadata(refreshed)))


def _count_rows(content: bytes) -> int | None:
    """Data rows for the UI; None when the csv module cannot count them (a field over its 128 KiB
    limit): the bytes are stored all the same, and validated_leaderboard judges them."""
    text = content.decode("utf-8-sig", errors="replace")
    try:
        return max(sum(1 for _ in csv.reader(io.StringIO(text, newline=""))) - 1, 0)
    except csv.Error:
        return None


@asset(
    partitions_def=competitions_partitions,
    io_manager_key="raw_csv_io_manager",
    output_required=False,
    pool="kaggle_api",
    group_name=GROUP,
    kinds={"kaggle", "csv"},
)
def raw_leaderboard_csv(
    context: AssetExecutionContext, leaderboard_source: LeaderboardSource, database: DatabaseResource
) -> Iterator[Output[bytes]]:
    """The leaderboard CSV exactly as Kaggle sent it, kept as a readable file per competition."""
    slug = context.partition_key
    if _registered_competition(context, database) is None:
        return
    try:
        download = leaderboard_source.download_leaderboard(slug)
    except KaggleLbError as error:
        raise _failure(error) from error
    sha256 = hashlib.sha256(download.content).hexdigest()

    if context.run.tags.get(TRIGGER_TAG) == SCHEDULED:
        last = _unchanged_since_last_sync(context, sha256)
        # Only the same bytes may skip, so only they pay for the users check.
        if last is not None and not _board_users_changed(database, download.content, last.get("user_keys_version")):
            context.log.info(f"competition '{slug}': board and users unchanged since the last sync, skipping")
            # Confirms the standings are current, which is what per-competition freshness tracks.
            context.log_event(
                AssetObservation(
                    asset_key=MATCHED_ENTRIES,
                    partition=slug,
                    metadata={"confirmed_unchanged": True, "source_sha256": sha256},
                )
            )
            return

    yield Output(
        download.content,
        metadata={
            "competition": slug,
            "dagster/row_count": _count_rows(download.content),
            "bytes": len(download.content),
            "sha256": sha256,
            "file_name": download.file_name,
            "downloaded_at": MetadataValue.timestamp(download.downloaded_at),
        },
    )


@asset(
    partitions_def=competitions_partitions,
    dagster_type=LeaderboardFrame,
    group_name=GROUP,
    kinds={"pandas", "pandera"},
    metadata={
        "dagster/column_schema": TableSchema(
            columns=[
                TableColumn(name, str(dtype))
                for name, dtype in LeaderboardModel.to_schema().dtypes.items()
            ]
        )
    },
)
def validated_leaderboard(context: AssetExecutionContext, raw_leaderboard_csv: bytes) -> Output[pd.DataFrame]:
    """The board in one canonical shape whatever the export's age, checked against LeaderboardModel."""
    slug = context.partition_key
    try:
        board = parse_leaderboard(raw_leaderboard_csv, slug)
    except KaggleLbError as error:
        raise _failure(error) from error
    legacy = board["submission_count"].isna().all() and (board["member_usernames"] == "").all()
    return Output(
        board,
        metadata={
            "competition": slug,
            "dagster/row_count": len(board),
            "format": "legacy (2023 and before)" if len(board) and legacy else "current",
            "benchmark_rows": int((board["rank"] == 0).sum()),
            "best_score": float(board["score"].iloc[0]) if len(board) else None,
        },
    )


@asset(
    partitions_def=competitions_partitions,
    output_required=False,
    group_name=GROUP,
    kinds={"sql"},
    deps=[USER_MATCH_KEYS],
)
def matched_entries(
    context: AssetExecutionContext, validated_leaderboard: pd.DataFrame, database: DatabaseResource
) -> Iterator[Output[None]]:
    """The site users found on the board, written to the site's entries table in one transaction."""
    slug = context.partition_key
    tables = database.tables
    competition = _registered_competition(context, database)
    if competition is None:
        return
    _refresh_user_keys(context, database)
    try:
        with database.begin() as conn:
            keys_version = user_keys.read_state(conn, tables).version
            result, users = user_keys.match_board(conn, tables, validated_leaderboard)
            entries = (
                with_unmatched_teams(validated_leaderboard, result.entries)
                if tables.schema.entries.unmatched_teams
                else result.entries
            )
            counts = standings.write_standings(conn, tables, competition.id, entries)
    except standings.SiteWriteError as error:
        raise _failure(KaggleLbError(slug, str(error))) from error
    except DBAPIError as error:
        cause = describe_database_error(error, database.display_url)
        raise _failure(KaggleLbError(slug, f"writing the standings failed, nothing was written: {cause}")) from error

    summary = {**counts.as_dict(), "skipped": result.skipped}
    context.log.info(f"competition '{slug}': " + ", ".join(f"{n} {k}" for k, n in summary.items()))
    preview = (
        result.entries.head(10)
        .merge(users[["user_id", "username"]], on="user_id")
        [["rank", "username", "score", "kaggle_team_name"]]
    )
    yield Output(
        None,
        metadata={
            "competition": slug,
            **summary,
            "dagster/row_count": len(result.entries),
            "board_rows": len(validated_leaderboard),
            "preview": MetadataValue.md(preview.to_markdown(index=False) if len(preview) else "_no matches_"),
            "source_sha256": _latest_metadata(context, RAW_LEADERBOARD).get("sha256", ""),
            "user_keys_version": keys_version,
        },
    )

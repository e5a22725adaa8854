"""user_match_keys: kaggle-lb's indexed copy of every user's match key, upstream of each
competition's matched_entries (see kaggle_lb.storage.user_keys)."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import user_keys

GROUP = "users"
USER_MATCH_KEYS = AssetKey("user_match_keys")


def refresh_metadata(refreshed: user_keys.KeyRefresh) -> dict:
    return {**refreshed.as_dict(), "dagster/row_count": refreshed.users}


@asset(group_name=GROUP, kinds={"sql"})
def user_match_keys(context: AssetExecutionContext, database: DatabaseResource) -> MaterializeResult:
    """Each site user's match key (Kaggle username, else username; trimmed, case-folded), indexed,
    so a board's users are found without scanning the users table. Only changed users are
    written; the changed keys are logged so an unchanged board re-matches only when it names one."""
    with database.begin() as conn:
        refreshed = user_keys.refresh(conn, database.tables)
    context.log.info(
        f"{refreshed.users} users indexed: {refreshed.added} added, {refreshed.changed} changed, "
        f"{refreshed.removed} removed (version {refreshed.version})"
    )
    return MaterializeResult(metadata=refresh_metadata(refreshed))

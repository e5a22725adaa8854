"""standings_digest: the community's news of one competition, posted once a period."""

from datetime import UTC, datetime

from dagster import AssetExecutionContext, AssetKey, Failure, MaterializeResult, MetadataValue, asset

from kaggle_lb.assets.leaderboard import MATCHED_ENTRIES
from kaggle_lb.partitions import competitions_partitions
from kaggle_lb.quality.digest import build_digest
from kaggle_lb.resources.alerts import DigestResource
from kaggle_lb.resources.database import DatabaseResource
from kaggle_lb.storage import digests, registry
from kaggle_lb.storage.history_read import read_history
from kaggle_lb.storage.standings_read import read_standings

COMMUNITY = "community"
STANDINGS_DIGEST = AssetKey("standings_digest")


def period_of(moment: datetime) -> str:
    """The digest's period: the UTC day."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


@asset(partitions_def=competitions_partitions, group_name=COMMUNITY, deps=[MATCHED_ENTRIES], kinds={"apprise"})
def standings_digest(
    context: AssetExecutionContext, database: DatabaseResource, digest: DigestResource
) -> MaterializeResult:
    """The day's top N, biggest movers, new entrants, drop-outs and the switch to the private
    board, as Markdown to KAGGLE_LB_DIGEST_URLS: at most once a day (kaggle_lb_digests), and
    nothing when nothing changed."""
    slug, tables = context.partition_key, database.tables
    now = datetime.now(UTC)
    period = period_of(now)
    with database.begin() as conn:
        competition = registry.get_competition(conn, tables, slug)
        if competition is None:
            return MaterializeResult(metadata={"competition": slug, "sent": False, "why": "no longer registered"})
        state = digests.lock_state(conn, tables, competition.id)
        if state.period == period:
            return MaterializeResult(metadata={"competition": slug, "sent": False, "why": f"already sent for {period}"})
        changes = read_history(conn, tables, competition.id, after_id=state.last_history_id)
        news = build_digest(
            competition.title or slug,
            period,
            read_standings(conn, tables, competition.id),
            changes,
            digest.top,
            state.previous_board,
        )
        if news is None:
            return MaterializeResult(metadata={"competition": slug, "sent": False, "why": "nothing changed"})
        digests.store_state(
            conn, tables, competition.id, digests.DigestState(period, max(row["id"] for row in changes), now, None)
        )
    if not digest.send(news):
        with database.begin() as conn:
            digests.store_state(conn, tables, competition.id, state)
        raise Failure(
            description=f"competition '{slug}': the digest for {period} could not be delivered to "
            "KAGGLE_LB_DIGEST_URLS; it is sent with the next run",
            metadata={"competition": slug},
        )
    return MaterializeResult(
        metadata={
            "competition": slug,
            "sent": True,
            "period": period,
            "changes": len(changes),
            "digest": MetadataValue.md(news.body),
        }
    )

"""One competition's poll: what Kaggle serves for it now, fetched once, and its fingerprint.

A poll that fails keeps the cause instead of the board: the competition's sync run then fails
with it, in its own run, as if it had downloaded the board itself (see resources.polled_source).
"""

from dataclasses import dataclass

from kaggle_lb.errors import KaggleLbError
from kaggle_lb.leaderboard.private_board import ViewPage
from kaggle_lb.polling.fingerprint import board_fingerprint
from kaggle_lb.resources.leaderboard_source import LeaderboardDownload, LeaderboardSource
from kaggle_lb.storage.registry import Competition
from kaggle_lb.storage.site_schema import SiteSchema


@dataclass(frozen=True)
class Poll:
    competition: str
    download: LeaderboardDownload | None = None
    first_page: ViewPage | None = None  # None too for a source with no leaderboard view
    # The cause of a failed download, or of a failed first page of the view after a good download.
    download_error: str | None = None
    view_error: str | None = None
    fingerprint: str | None = None  # None when either failed

    @property
    def failed(self) -> bool:
        return self.fingerprint is None


def poll_board(source: LeaderboardSource, competition: Competition, schema: SiteSchema) -> Poll:
    """The competition's board and the first page of its leaderboard view, as a sync run would
    fetch them, with the fingerprint of what they would make of it."""
    slug = competition.slug
    try:
        download = source.download_leaderboard(slug)
    except KaggleLbError as error:
        return Poll(slug, download_error=error.cause)
    try:
        first_page = source.view_first_page(slug)
    except KaggleLbError as error:
        return Poll(slug, download=download, view_error=error.cause)
    fingerprint = board_fingerprint(download.content, first_page, competition.score_direction, schema)
    return Poll(slug, download, first_page, fingerprint=fingerprint)

"""The leaderboard source of a sync run started by a batch: the board the batch already polled.

Kaggle is asked once per board and tick: the run's raw_leaderboard_csv gets the download the
poll holds, and validated_leaderboard the view's first page; only a private board's further
pages are read from Kaggle, by the batch's own source. A failed poll fails the run's step with
the same cause, so the competition's run, checks and alerts show it as if the run had fetched it.
"""

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.leaderboard.private_board import ViewPage, ViewRow
from kaggle_lb.polling.poll import Poll
from kaggle_lb.resources.leaderboard_source import LeaderboardDownload, LeaderboardSource


class PolledSource:
    """A LeaderboardSource for one batch's sync runs, given to them as a hardcoded resource (it
    holds the polled bytes, which are no configuration); `current` is the poll of the run at hand."""

    def __init__(self, source: LeaderboardSource):
        self.source = source
        self.current: Poll | None = None

    def _poll(self, competition: str) -> Poll:
        if self.current is None or self.current.competition != competition:
            raise LeaderboardDownloadError(competition, "the batch has no poll of this competition")
        return self.current

    def download_leaderboard(self, competition: str) -> LeaderboardDownload:
        poll = self._poll(competition)
        if poll.download is None:
            raise LeaderboardDownloadError(competition, poll.download_error or "not downloaded")
        return poll.download

    def view_first_page(self, competition: str) -> ViewPage | None:
        poll = self._poll(competition)
        if poll.view_error is not None:
            raise LeaderboardDownloadError(competition, poll.view_error)
        return poll.first_page

    def private_view(self, competition: str, public, first_page: ViewPage) -> list[ViewRow] | None:
        return self.source.private_view(competition, public, first_page)

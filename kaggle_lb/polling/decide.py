"""Whether a polled board needs a sync run, or its standings are still what a sync would write.

A board is unchanged when all of these hold, checked cheapest first:
- its fingerprint (polling.fingerprint) is the one its standings were computed from;
- no sync run of it failed since (a failing board that came back still needs a passing run, so
  its checks and alerts recover);
- no user key it depends on changed since it was matched or last confirmed: none of the keys
  added or changed since is credited by its standings or appears in its download's text (a
  superset of the names on the board: the keys are the names ASCII-lower-cased, as the text is
  searched), and no user it credits is gone;
- the site's rows still hold what its standings wrote (standings.site_rows_differ).
Anything else syncs: the run then writes what changed, or finds nothing to and says so.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from kaggle_lb.polling.poll import Poll
from kaggle_lb.storage import polls, standings, user_keys
from kaggle_lb.storage.registry import Competition
from kaggle_lb.storage.schema import Tables

UNCHANGED = "unchanged"
NEVER_SYNCED = "never synced"
BOARD_CHANGED = "board changed"
POLL_FAILED = "download failed"
RUN_FAILED = "last run failed"
USERS_CHANGED = "users changed"
SITE_ROWS_CHANGED = "site rows changed"


@dataclass(frozen=True)
class Verdict:
    reason: str  # UNCHANGED, or why the board needs a sync run

    @property
    def unchanged(self) -> bool:
        return self.reason == UNCHANGED


class BatchState:
    """What a batch's boards are compared with, read once for the whole batch: each competition's
    last sync and confirmation, the users' key version and the keys changed since the oldest of
    them."""

    def __init__(self, conn: Connection, tables: Tables, competitions: list[Competition]):
        ids = [competition.id for competition in competitions]
        self.tables = tables
        self.last = standings.last_syncs(conn, tables, ids)
        self.confirmed = polls.confirmations(conn, tables, ids)
        self.key_version = user_keys.read_state(conn, tables).version
        baselines = [self._baseline(competition.id) for competition in competitions]
        oldest = min((version for version in baselines if version is not None), default=self.key_version)
        self._changed_keys = user_keys.keys_changed_since(conn, tables, oldest) if oldest < self.key_version else []

    def synced_at(self, competition: Competition) -> datetime | None:
        last = self.last.get(competition.id)
        return last.synced_at if last else None

    def _baseline(self, competition_id: int) -> int | None:
        """The key version the competition's standings are known to hold for: the one they were
        matched at, or a later one a poll confirmed them at for the same board."""
        last = self.last.get(competition_id)
        if last is None or last.key_version is None:
            return None
        confirmed = self.confirmed.get(competition_id)
        if confirmed is not None and confirmed.fingerprint == last.fingerprint:
            return max(last.key_version, confirmed.key_version)
        return last.key_version

    def verdict(self, conn: Connection, competition: Competition, poll: Poll, failed_at: float | None) -> Verdict:
        """`failed_at`: when the newest sync run of the competition that failed was created, if any
        (from the Dagster instance)."""
        last = self.last.get(competition.id)
        if poll.failed:
            return Verdict(POLL_FAILED)
        if last is None or last.fingerprint is None:
            return Verdict(NEVER_SYNCED)
        if poll.fingerprint != last.fingerprint:
            return Verdict(BOARD_CHANGED)
        if failed_at is not None and failed_at > last.synced_at.timestamp():
            return Verdict(RUN_FAILED)
        baseline = self._baseline(competition.id)
        if baseline is None or (baseline < self.key_version and self._users_changed(conn, competition, poll)):
            return Verdict(USERS_CHANGED)
        if standings.site_rows_differ(conn, self.tables, competition.id):
            return Verdict(SITE_ROWS_CHANGED)
        return Verdict(UNCHANGED)

    def _users_changed(self, conn: Connection, competition: Competition, poll: Poll) -> bool:
        assert poll.download is not None  # a poll that did not fail has its download
        baseline = self._baseline(competition.id)
        changed = [(user, key) for user, key, _ in self._changed_keys_since(baseline)]
        if standings.credits_a_removed_user(conn, self.tables, competition.id):
            return True
        if not changed:
            return False
        credited = standings.credited_users(conn, self.tables, competition.id)
        text = poll.download.content.lower()
        return any(user in credited or _may_name(text, key) for user, key in changed)

    def _changed_keys_since(self, baseline: int | None) -> list[tuple[int, str, int]]:
        return [row for row in self._changed_keys if baseline is None or row[2] > baseline]


def _may_name(text: bytes, key: str) -> bool:
    """Whether the board's text may hold the key as a name. A key with a quote may be escaped in
    the CSV, so it counts as named; an empty key names nobody."""
    if not key:
        return False
    return '"' in key or key.encode() in text

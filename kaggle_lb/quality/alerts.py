"""Alerts on changes of state: one when something starts failing, one when it recovers; and one
notice when a competition's standings switch to Kaggle's private board.

A competition that fails for a day sends one alert and one recovery, not 288: the state of each
(competition, problem) pair is remembered between evaluations and only its changes are sent.
"""

from dataclasses import dataclass
from urllib.parse import quote

import apprise

PASSING, FAILING, UNKNOWN = "passing", "failing", "unknown"
HIGH, LOW = "high", "low"


@dataclass(frozen=True)
class Status:
    """The current state of one thing that can fail for one competition."""

    competition: str
    name: str  # a check's name, "run" or "freshness_check"
    state: str  # PASSING, FAILING or UNKNOWN (nothing evaluated yet: no change is inferred)
    priority: str  # HIGH for failed runs, ERROR checks and staleness; LOW for WARN checks
    description: str
    run_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.competition}|{self.name}"


@dataclass(frozen=True)
class Alert:
    status: Status
    recovered: bool

    @property
    def notify_type(self) -> str:
        if self.recovered:
            return apprise.NotifyType.SUCCESS
        return apprise.NotifyType.FAILURE if self.status.priority == HIGH else apprise.NotifyType.WARNING

    def title(self) -> str:
        what = "failed run" if self.status.name == "run" else self.status.name
        if self.recovered:
            return f"[kaggle-lb] RECOVERED {self.status.competition}: {what}"
        return f"[kaggle-lb] {self.status.priority.upper()} {self.status.competition}: {what}"

    def link(self, ui_url: str) -> str:
        base = ui_url.rstrip("/")
        if self.status.run_id:
            return f"{base}/runs/{self.status.run_id}"
        return f"{base}/assets/matched_entries?view=partitions&partition={quote(self.status.competition)}"

    def body(self, ui_url: str) -> str:
        state = "recovered" if self.recovered else f"failing (priority {self.status.priority})"
        return (
            f"competition: {self.status.competition}\n"
            f"what: {self.status.name}\n"
            f"state: {state}\n"
            f"detail: {self.status.description}\n"
            f"link: {self.link(ui_url)}"
        )


def changes(previous: dict[str, str], statuses: list[Status]) -> list[Alert]:
    """The alerts that `statuses` call for, given the states last alerted on (key -> state)."""
    alerts = []
    for status in statuses:
        before = previous.get(status.key, PASSING)
        if status.state == FAILING and before != FAILING:
            alerts.append(Alert(status, recovered=False))
        elif status.state == PASSING and before == FAILING:
            alerts.append(Alert(status, recovered=True))
    return alerts


FINAL_STANDINGS = "final standings: private board"


@dataclass(frozen=True)
class Notice:
    """News that is no failure, sent once: a competition's standings now come from Kaggle's
    private board (the final standings)."""

    competition: str
    notify_type = apprise.NotifyType.INFO

    def title(self) -> str:
        return f"[kaggle-lb] {self.competition}: {FINAL_STANDINGS}"

    def body(self, ui_url: str) -> str:
        link = f"{ui_url.rstrip('/')}/assets/matched_entries?view=partitions&partition={quote(self.competition)}"
        return (
            f"competition: {self.competition}\n"
            f"what: {FINAL_STANDINGS}\n"
            "detail: Kaggle published the private leaderboard; the standings now follow its ranks and scores\n"
            f"link: {link}"
        )

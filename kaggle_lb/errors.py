"""Errors that name the competition and the cause, so an operator can act on the message alone."""

# A cause becomes a log line, run metadata and an alert; one quoting something unbounded (a CSV
# header, the member names of a ZIP) is cut here. This project's longest own causes, the tables
# of failing rows, stay under it.
MAX_CAUSE_CHARS = 2000


class KaggleLbError(Exception):
    """Base error: every failure in a sync names the competition it happened to."""

    def __init__(self, competition: str, cause: str):
        if len(cause) > MAX_CAUSE_CHARS:
            cause = cause[: MAX_CAUSE_CHARS - 1] + "…"
        self.competition = competition
        self.cause = cause
        super().__init__(f"competition '{competition}': {cause}")


class LeaderboardDownloadError(KaggleLbError):
    """The leaderboard could not be fetched (HTTP, network, credentials, a broken ZIP)."""


class LeaderboardFormatError(KaggleLbError):
    """The CSV is not a Kaggle leaderboard export this project can read."""


class LeaderboardValidationError(KaggleLbError):
    """The CSV parsed but its rows break the leaderboard schema."""


class ConfigurationError(Exception):
    """A setting or the database it points at cannot be used as it is; the message says what to
    fix, one line per problem. Never a competition's fault, so it stops every competition."""

"""Errors that name the competition and the cause, so an operator can act on the message alone."""


class KaggleLbError(Exception):
    """Base error: every failure in a sync names the competition it happened to."""

    def __init__(self, competition: str, cause: str):
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

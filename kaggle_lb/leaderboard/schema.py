"""The pandera schema of a parsed Kaggle leaderboard (the canonical columns of `parsing.py`)."""

from typing import Annotated

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera import dtypes
from pandera.engines import pandas_engine
from pandera.typing import Series

# The largest value of the database's INTEGER columns (rank, submission_count): a larger one must
# fail here, naming its row, not in the write ("integer out of range" on PostgreSQL).
MAX_STORED_INTEGER = 2**31 - 1


@pandas_engine.Engine.register_dtype
@dtypes.immutable
class Text(pandas_engine.NpString):
    """pandera's str, checked in one pass in C (pandas' infer_dtype) where pandera calls Python
    once per value. Any other column takes pandera's
    own check, which names each value that is not a str."""

    def check(self, pandera_dtype, data_container=None):
        if data_container is not None and pd.api.types.infer_dtype(data_container, skipna=True) == "string":
            return True
        return super().check(pandera_dtype, data_container)


class LeaderboardModel(pa.DataFrameModel):
    """One row per Kaggle team, best first, as exported by Kaggle.

    Legacy exports (2023 and before) have no rank column, so rank is the row position (1..n),
    and they carry neither a submission count nor member usernames.
    """

    rank: Series[np.int64] = pa.Field(
        ge=0,
        le=MAX_STORED_INTEGER,
        description="Leaderboard position; 0 (written so, not -0 or 00) marks a host benchmark row, "
        "which no user owns.",
    )
    # Unique on a good board; unique_team_ids_check judges that, with the rows to show.
    team_id: Series[np.int64] = pa.Field(ge=0, description="Kaggle TeamId.")
    team_name: Series[Text] = pa.Field(
        description="Kaggle TeamName, byte-exact (leading spaces, commas, quotes, emoji kept)."
    )
    submission_date: Series[Annotated[pd.DatetimeTZDtype, "ns", "UTC"]] = pa.Field(
        description="Date of the team's last scored submission, UTC."
    )
    score: Series[np.float64] = pa.Field(
        description="Leaderboard score; the metric decides whether higher or lower is better."
    )
    submission_count: Series[pd.Int64Dtype] = pa.Field(
        ge=0, le=MAX_STORED_INTEGER, nullable=True, description="Number of submissions; missing in legacy exports."
    )
    member_usernames: Series[Text] = pa.Field(
        description="Comma-separated Kaggle usernames of the team members; empty when none."
    )

    @pa.check("score", name="finite", error="score must be a finite number")
    def score_is_finite(cls, score: Series[float]) -> Series[bool]:
        # Every fixture row has a real score; "inf" would parse as a float but is no score.
        return np.isfinite(score)

    class Config:
        title = "Kaggle leaderboard"
        description = (
            "A Kaggle leaderboard export mapped to canonical columns: rank, team_id, team_name, "
            "submission_date, score, submission_count, member_usernames."
        )
        # parse_leaderboard builds exactly these columns and dtypes; anything else is a bug
        # upstream, so dtypes are checked rather than coerced to (which costs twice the time).
        strict = True
        coerce = False

"""Tables of board text as Markdown the UI renders as text: a team name is never a link, a cell
boundary or markup."""

import re

import pandas as pd

# Everything Markdown (and the HTML it allows) gives a meaning to.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def escape(value) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return _SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", text))


def markdown_table(frame: pd.DataFrame) -> str:
    lines = [
        "| " + " | ".join(escape(column) for column in frame.columns) + " |",
        "|" + "---|" * len(frame.columns),
    ]
    lines += ["| " + " | ".join(escape(value) for value in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)

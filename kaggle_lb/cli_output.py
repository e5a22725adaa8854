"""What the `kaggle-lb` commands print: tables that fit 80 columns, and every value as plain text.

A value from a board, a user or a site row is never read as Rich markup (a team named `[/]`, or
`[link=...]`) and never reaches the terminal with a control character in it (an ESC sequence
could clear the screen, retitle the window or hide the rest of a line): see `clean`.
Imported by the commands that print, so that `kaggle-lb --help` imports no Rich.
"""

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

# C0 controls, DEL and C1 controls: nothing a terminal shows as a character.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# In JSON, json.dumps escapes C0 controls itself (ensure_ascii=False leaves DEL and C1 as they are).
_JSON_UNESCAPED_CONTROL = re.compile("[\x7f-\x9f]")


def _shown(match: re.Match) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def clean(value: object, multiline: bool = False) -> str:
    """`value` as text with each control character shown escaped (ESC as `\\x1b`); newlines are
    kept only in `multiline` text (a cause quoting failing rows), never in a table's key."""
    return (_CONTROL_BUT_NEWLINE if multiline else _CONTROL).sub(_shown, str(value))


def plain(value: object, style: str = "", multiline: bool = False) -> Text:
    """A Rich Text, which Rich prints as it is: no markup, no emoji codes, no highlighting."""
    return Text("" if value is None else clean(value, multiline), style=style)


def stdout() -> Console:
    # Made per use, so that a test's COLUMNS and a redirected stream are seen.
    return Console(highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


# Messages are soft-wrapped (left to the terminal): one problem stays one line in a log or a grep.


def say(*parts: Text | str) -> None:
    """One line on stdout; str parts are kaggle-lb's own words, Text parts the values."""
    stdout().print(Text.assemble(*parts), soft_wrap=True)


def error(message: str) -> None:
    """One `error: ...` line on stderr; the message may quote anything, so it is shown as text."""
    stderr().print(Text.assemble(("error:", "red"), " ", plain(message, multiline=True)), soft_wrap=True)


def warning(label: str, message: str) -> None:
    stderr().print(Text.assemble((f"{label}:", "yellow"), " ", plain(message, multiline=True)), soft_wrap=True)


def print_json(value) -> None:
    text = json.dumps(value, indent=2, default=_json_default, ensure_ascii=False)
    # A C1 control can only be inside a JSON string, where \\u escapes are its same value.
    sys.stdout.write(_JSON_UNESCAPED_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


# Column kinds. Nothing is ever cut: a key (a slug, a username, a check's name) is folded onto
# more lines when the table is narrow; a number or a status is kept on one line while it fits.
KEY = {"overflow": "fold"}
TEXT = {"overflow": "fold", "ratio": 2}
SHORT = {"overflow": "fold", "no_wrap": True}
NUMBER = {"overflow": "fold", "no_wrap": True, "justify": "right"}


def table(*columns: tuple[str, dict], title: str | None = None) -> Table:
    """A table of (header, kind) columns; rows are added with `add_row(table, values)`."""
    result = Table(title=plain(title) if title else None, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for header, kind in columns:
        result.add_column(header, **kind)
    return result


def add_row(to: Table, values: Iterable[Text | object]) -> None:
    to.add_row(*(value if isinstance(value, Text) else plain(value) for value in values))


def print_table(rows: Table) -> None:
    stdout().print(rows)


def score_text(score: float | None) -> str:
    """A score as Kaggle's export wrote it, as near as a float keeps it: the shortest text that
    reads back as the same number (0.123456789 whole, 0.95000 as 0.95), never rounded to 6 digits."""
    return "" if score is None else repr(float(score))


def movement(rank_change: int | None) -> str:
    """A standing's move since its previous change: ▲ up, ▼ down, = a new score in the same
    place; nothing for a new entry."""
    if rank_change is None:
        return ""
    if rank_change == 0:
        return "="
    return f"▲{rank_change}" if rank_change > 0 else f"▼{-rank_change}"


def change_text(old, new, shown: Callable[[Any], str]) -> str:
    """`old → new` of one history row, either side missing when the user entered or left."""
    return " → ".join(shown(value) for value in (old, new) if value is not None)


@contextmanager
def progress(description: str, total: float | None) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr, only when stderr is a terminal (never in a log or a pipe); yields
    its update (advance=, description=, total=: None shows work of unknown length)."""
    console = stderr()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task(_description(description), total=total)

        def update(description: str | None = None, **changes) -> None:
            bar.update(task, description=None if description is None else _description(description), **changes)

        yield update


def _description(text: str) -> str:
    # Progress reads its description as markup: a file named `[/]` would not print.
    return escape(clean(text))

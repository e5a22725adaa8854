"""`kaggle-lb history --chart`: each user's rank over time, as PNG or SVG, with matplotlib.

Imported only by that command: matplotlib costs a quarter of a second to import.
"""

from pathlib import Path

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kaggle_lb.storage.history_read import LEFT


def draw_ranks(rows: list[dict], path: Path, title: str) -> None:
    """One step line per user through the ranks of `rows` (kaggle_lb_history, in time order), a
    gap while they were off the board; rank 1 at the top. Written to `path` (.png or .svg)."""
    lines: dict[str, tuple[list, list]] = {}
    for row in rows:
        times, ranks = lines.setdefault(row["username"], ([], []))
        times.append(row["changed_at"])
        ranks.append(float("nan") if row["change"] == LEFT else row["new_rank"])
    # Usernames and titles are board and site text: never read as mathtext ($...$).
    with matplotlib.rc_context({"text.parse_math": False, "svg.hashsalt": "kaggle-lb"}):
        figure = Figure(figsize=(8, 4.5), layout="constrained")
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        for username, (times, ranks) in lines.items():
            axes.step(times, ranks, where="post", marker="o", label=username)
        axes.invert_yaxis()
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(title)
        axes.set_xlabel("time (UTC)")
        axes.set_ylabel("rank")
        if lines:
            axes.legend(loc="best", fontsize="small")
        else:
            axes.text(0.5, 0.5, "no changes recorded", transform=axes.transAxes, ha="center")
        figure.autofmt_xdate()
        figure.savefig(path, format=path.suffix.lower().lstrip("."))

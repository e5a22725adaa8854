"""Whether a competition's standings are fresh: judged here alone, by the freshness check and the
alert sensor alike, from the last time kaggle-lb checked them against Kaggle: its last sync
(kaggle_lb_syncs), or a later poll that found the board unchanged (kaggle_lb_polls; read by
storage.polls.last_checked)."""

from datetime import datetime

from kaggle_lb.quality.board_checks import CheckOutcome


def judge_freshness(
    last_checked: datetime | None, window_minutes: float, now: datetime, watched_since: datetime | None = None
) -> CheckOutcome:
    """Stale when not checked within the window; a never-synced competition is stale once it has
    been watched for a whole window (at once when `watched_since` is unknown)."""
    reference = last_checked or watched_since
    age_minutes = (now - reference).total_seconds() / 60 if reference else None
    metadata = {"window_minutes": window_minutes, "age_minutes": None if age_minutes is None else round(age_minutes, 1)}
    if age_minutes is not None and age_minutes <= window_minutes:
        detail = f"last checked {age_minutes:.0f} min ago" if last_checked else "not synced yet, within the window"
        return CheckOutcome(True, detail, metadata)
    detail = (
        f"stale: last checked {age_minutes:.0f} min ago ({last_checked:%Y-%m-%d %H:%M} UTC), "
        f"more than the {window_minutes:g} min allowed"
        if last_checked
        else f"stale: never synced in the {window_minutes:g} min allowed"
    )
    return CheckOutcome(False, detail, metadata)

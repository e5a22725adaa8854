"""Kaggle competition slugs: the name in a competition's URL, the key of its partition."""

import re
from urllib.parse import urlsplit

SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?")
_KAGGLE_HOSTS = ("kaggle.com", "www.kaggle.com")
_COMPETITION_PATHS = ("competitions", "c")


def competition_slug(value: str) -> str:
    """The slug `value` names: a slug as it is, or a competition URL
    (`https://www.kaggle.com/competitions/<slug>`, with or without a trailing path). Raises
    ValueError saying why for anything else."""
    value = value.strip()
    if "/" in value:
        parts = urlsplit(value)
        path = [part for part in parts.path.split("/") if part]
        if parts.scheme not in ("http", "https") or parts.hostname not in _KAGGLE_HOSTS:
            raise ValueError(f"{value!r} is neither a Kaggle slug nor a Kaggle competition URL")
        if len(path) < 2 or path[0] not in _COMPETITION_PATHS:
            raise ValueError(f"{value!r} is not a competition's URL (expected kaggle.com/competitions/<slug>)")
        value = path[1]
    if not SLUG_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Kaggle competition slug (lowercase letters, digits and hyphens, "
            "as in the competition's URL, e.g. 'titanic')"
        )
    return value

"""A board's fingerprint: everything a sync's result depends on that comes from outside the site's
users and entries. Equal fingerprints and unchanged users mean a sync would write nothing."""

import dataclasses
import hashlib
import json

from kaggle_lb.leaderboard.private_board import ViewPage
from kaggle_lb.storage.site_schema import SiteSchema

# Raised whenever what a fingerprint covers changes, so every board counts as changed once.
FINGERPRINT_RULE = 1


def board_fingerprint(csv_bytes: bytes, first_page: ViewPage | None, direction: str | None, schema: SiteSchema) -> str:
    """The download's bytes, the rows of the leaderboard view's first page (which tell a private
    board from the public one; not its page token, which need not repeat), the competition's score
    direction and the site schema the rows are written through, as one SHA-256 in hex."""
    view = None if first_page is None else [[r.team_id, r.team_name, r.score] for r in first_page.rows]
    mapping = dataclasses.asdict(dataclasses.replace(schema, source=""))
    summary = {
        "rule": FINGERPRINT_RULE,
        "download": hashlib.sha256(csv_bytes).hexdigest(),
        "view": view,
        "direction": direction,
        "schema": mapping,
    }
    return hashlib.sha256(json.dumps(summary, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

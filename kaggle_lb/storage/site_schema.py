"""Where the site keeps its users, its competitions and its leaderboard entries.

A site-schema file (TOML, `KAGGLE_LB_SITE_SCHEMA`) maps kaggle-lb onto an existing site's tables;
a section it leaves out is kaggle-lb's built-in table, which kaggle-lb creates and manages. With
no file at all every section is built in: the standalone install and the demo. Either way the
sync takes one code path: read the mapped tables, write the mapped entries.

In `[entries.columns]` each site column takes one of kaggle-lb's FIELDS, or an SQL expression
over `entry.<field>` and `competition.<column>` (the competition's row in the site's table),
evaluated by the database when the row is written.
"""

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kaggle_lb.errors import ConfigurationError

# What kaggle-lb knows of each standing; `last_synced` moves only when the standing changes;
# `board` is "public" or "private", the Kaggle board the rank and score come from.
FIELDS = (
    "rank",
    "score",
    "team_id",
    "team_name",
    "submission_count",
    "last_submission",
    "first_synced",
    "last_synced",
    "board",
)
INTEGER_FIELDS = frozenset({"rank", "team_id", "submission_count"})
NUMBER_FIELDS = INTEGER_FIELDS | {"score"}
TEXT_FIELDS = frozenset({"team_name", "board"})
TIME_FIELDS = frozenset({"last_submission", "first_synced", "last_synced"})

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SiteSchemaError(ConfigurationError):
    """The site-schema file, or the live database it describes, cannot be used: one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class SiteOwnedError(ConfigurationError):
    """A change kaggle-lb may make only to its built-in tables, asked of a site's own table."""


@dataclass(frozen=True)
class UsersMapping:
    table: str = "users"
    id: str = "id"
    username: str = "username"
    kaggle_username: str = "kaggle_username"
    built_in: bool = True


@dataclass(frozen=True)
class CompetitionsMapping:
    table: str = "competitions"
    id: str = "id"
    slug: str = "slug"  # a Kaggle slug, or a competition URL
    title: str | None = "title"
    active: str = "is_active"  # an SQL condition over the table's columns
    # At most one of the two: a boolean column, or a text column holding "higher" or "lower".
    higher_is_better: str | None = None
    score_direction: str | None = "score_direction"
    built_in: bool = True


BUILT_IN_ENTRY_COLUMNS = {
    "rank": "rank",
    "score": "score",
    "kaggle_team_id": "team_id",
    "kaggle_team_name": "team_name",
    "submission_count": "submission_count",
    "submission_date": "last_submission",
    "first_synced_at": "first_synced",
    "last_synced_at": "last_synced",
}


@dataclass(frozen=True)
class EntriesMapping:
    table: str = "leaderboard_entries"
    id: str = "id"
    competition: str = "competition_id"
    user: str = "user_id"
    columns: dict[str, str] = field(default_factory=lambda: dict(BUILT_IN_ENTRY_COLUMNS))
    # Also write one user-less row per ranked team no site user was credited for, as some sites'
    # own syncs did; kaggle-lb owns those rows like every row it inserts.
    unmatched_teams: bool = False
    built_in: bool = True

    def expression(self, column: str) -> str:
        """The SQL that computes `column`: a field is `entry.<field>`, anything else is SQL as written."""
        value = self.columns[column]
        return f"entry.{value}" if value in FIELDS else f"({value})"

    def field_of(self, column: str) -> str | None:
        value = self.columns[column]
        return value if value in FIELDS else None


@dataclass(frozen=True)
class SiteSchema:
    users: UsersMapping = UsersMapping()
    competitions: CompetitionsMapping = CompetitionsMapping()
    entries: EntriesMapping = EntriesMapping()
    source: str = "built-in tables"

    @property
    def built_in_sections(self) -> list[str]:
        return [name for name in ("users", "competitions", "entries") if getattr(self, name).built_in]


BUILT_IN = SiteSchema()

_KEYS = {
    "users": {"table", "id", "username", "kaggle_username"},
    "competitions": {"table", "id", "slug", "title", "active", "higher_is_better", "score_direction"},
    "entries": {"table", "id", "competition", "user", "columns", "unmatched_teams"},
}
_REQUIRED = {
    "users": {"table", "id", "username", "kaggle_username"},
    "competitions": {"table", "id", "slug", "active"},
    "entries": {"table", "competition", "user", "columns"},
}
_IDENTIFIER_KEYS = {
    "table",
    "id",
    "username",
    "kaggle_username",
    "slug",
    "title",
    "higher_is_better",
    "score_direction",
    "competition",
    "user",
}


def load_site_schema(path: str | Path | None) -> SiteSchema:
    """The schema the file at `path` describes; the built-in one when `path` is empty."""
    if not path:
        return BUILT_IN
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise SiteSchemaError([f"site schema {path}: cannot be read ({error.strerror or error})"]) from None
    except UnicodeDecodeError:
        raise SiteSchemaError([f"site schema {path}: is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as error:
        raise SiteSchemaError([f"site schema {path}: not valid TOML: {error}"]) from None
    problems = [f"site schema {path}: unknown section [{name}]" for name in document if name not in _KEYS]
    for name, keys in _KEYS.items():
        given = document.get(name)
        if given is None:
            continue
        if not isinstance(given, dict):
            problems.append(f"site schema {path}: [{name}] must be a table of keys")
            continue
        problems += [f"site schema {path}: [{name}] has no key '{key}'" for key in sorted(_REQUIRED[name] - set(given))]
        problems += [f"site schema {path}: [{name}] has an unknown key '{key}'" for key in sorted(set(given) - keys)]
        for key in sorted(_IDENTIFIER_KEYS & set(given)):
            value = given[key]
            if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
                problems.append(f"site schema {path}: [{name}] {key} = {value!r} is not a table or column name")
    competitions, entries = document.get("competitions") or {}, document.get("entries") or {}
    if isinstance(competitions, dict) and {"higher_is_better", "score_direction"} <= set(competitions):
        problems.append(f"site schema {path}: [competitions] takes higher_is_better or score_direction, not both")
    if isinstance(competitions, dict) and not isinstance(competitions.get("active", ""), str):
        problems.append(f"site schema {path}: [competitions] active must be an SQL condition in a string")
    columns = entries.get("columns", {}) if isinstance(entries, dict) else {}
    if "entries" in document and (not isinstance(columns, dict) or not columns):
        problems.append(f"site schema {path}: [entries.columns] must map at least one site column")
        columns = {}
    for column, value in columns.items():
        if not _IDENTIFIER.fullmatch(column):
            problems.append(f"site schema {path}: [entries.columns] {column!r} is not a column name")
        if not isinstance(value, str) or not value.strip():
            problems.append(
                f"site schema {path}: [entries.columns] {column} = {value!r}: give one of {', '.join(FIELDS)} "
                "or an SQL expression in a string"
            )
    if isinstance(entries, dict) and not isinstance(entries.get("unmatched_teams", False), bool):
        problems.append(f"site schema {path}: [entries] unmatched_teams must be true or false")
    if problems:
        raise SiteSchemaError(problems)

    def section(name: str, mapping_type: type, **extra):
        values = document.get(name)
        return mapping_type() if values is None else mapping_type(**{**values, **extra, "built_in": False})

    return SiteSchema(
        users=section("users", UsersMapping),
        competitions=section(
            "competitions",
            CompetitionsMapping,
            title=competitions.get("title"),
            score_direction=competitions.get("score_direction"),
        ),
        entries=section("entries", EntriesMapping, columns=dict(columns), id=entries.get("id", "id")),
        source=str(path),
    )

"""`kaggle-lb`: register competitions and users, sync through the Dagster assets, read standings."""

import csv
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import resources as package_files
from pathlib import Path

import click
from dagster import DagsterInstance
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from kaggle_lb.assets import leaderboard_check_keys
from kaggle_lb.quality import health
from kaggle_lb.quality.alerts import FAILING, HIGH, PASSING
from kaggle_lb.errors import ConfigurationError
from kaggle_lb.resources.database import DatabaseResource, describe_database_error
from kaggle_lb.slugs import competition_slug
from kaggle_lb.resources.from_env import database_from_env, quality_from_env
from kaggle_lb.storage import registry, standings, user_keys
from kaggle_lb.sync import SyncOutcome, sync_competitions

console = Console()
err_console = Console(stderr=True)

database_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL of the site's database (default: $KAGGLE_LB_DATABASE_URL, else SQLite "
    "under $KAGGLE_LB_HOME).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# The database the running command opened, for its error messages (password masked).
_opened: dict[str, str] = {}


@contextmanager
def _database(database_url: str | None):
    # Used here, outside any Dagster run, where an EnvVar is never resolved: pass the value itself.
    database = database_from_env(database_url or os.environ.get("KAGGLE_LB_DATABASE_URL"))
    _opened["url"] = database.display_url
    try:
        yield database
    finally:
        database.dispose()


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    sys.exit(1)


def _print_json(value) -> None:
    click.echo(json.dumps(value, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


class _Commands(click.Group):
    """Turns what an operator can fix (a setting, the database, the site's tables) into one line
    per problem on stderr instead of a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigurationError as error:
            for line in str(error).splitlines():
                err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False)
            sys.exit(1)
        except (ArgumentError, NoSuchModuleError, DBAPIError) as error:
            _fail(describe_database_error(error, _opened.get("url", "(not opened)")))


@click.group(cls=_Commands)
@click.version_option(package_name="kaggle-lb")
def main() -> None:
    """Keep a site's own leaderboard in sync with Kaggle."""


@main.command()
@database_url_option
def init(database_url: str | None) -> None:
    """Create kaggle-lb's tables, or upgrade them, and check the site's; safe to run again."""
    with _database(database_url) as database:
        notes = database.initialise()
        console.print(f"database ready: {database.display_url} ({database.schema.source})")
        for note in notes:
            console.print(note)


@main.group()
def competitions() -> None:
    """Register the Kaggle competitions to sync."""


@competitions.command("add")
@click.argument("slug")
@click.option("--title", default=None, help="Display title.")
@click.option(
    "--score-direction",
    type=click.Choice(["higher", "lower", "auto"]),
    default=None,
    help="Which score is better, for the rank-order check (default: auto, inferred from the board).",
)
@database_url_option
def competitions_add(slug: str, title: str | None, score_direction: str | None, database_url: str | None) -> None:
    """Register competition SLUG (its Kaggle URL name, or its URL) as active; run again to change its settings."""
    try:
        slug = competition_slug(slug)
    except ValueError as error:
        _fail(str(error))
    with _database(database_url) as database, database.begin() as conn:
        created = registry.add_competition(conn, database.tables, slug, title)
        if score_direction is not None:
            registry.set_score_direction(
                conn, database.tables, slug, None if score_direction == "auto" else score_direction
            )
    console.print(f"{'added' if created else 'already registered'}: {slug}")


@competitions.command("list")
@json_option
@database_url_option
def competitions_list(as_json: bool, database_url: str | None) -> None:
    """List the competitions kaggle-lb syncs (the site's, with a site schema)."""
    with _database(database_url) as database, database.begin() as conn:
        registered = registry.read_competitions(conn, database.tables)
    rows = registered.competitions
    for problem in registered.problems:
        err_console.print(f"[yellow]skipped:[/yellow] {escape(problem)}", highlight=False)
    if as_json:
        _print_json([{k: v for k, v in asdict(c).items() if k != "id"} for c in rows])
        return
    table = Table("slug", "title", "active", "better score")
    for c in rows:
        table.add_row(c.slug, c.title or "", "yes" if c.is_active else "no", c.score_direction or "auto")
    console.print(table)


def _competition_setter(name: str, done: str, help_text: str, change):
    @competitions.command(name, help=help_text)
    @click.argument("slug")
    @database_url_option
    def command(slug: str, database_url: str | None) -> None:
        with _database(database_url) as database, database.begin() as conn:
            found = change(conn, database.tables, slug)
        if not found:
            _fail(f"competition '{slug}' is not registered")
        console.print(f"{done}: {slug}")

    return command


_competition_setter(
    "activate", "activated", "Sync SLUG on the schedule again.",
    lambda conn, tables, slug: registry.set_competition_active(conn, tables, slug, True),
)
_competition_setter(
    "deactivate", "deactivated", "Stop syncing SLUG on the schedule (its standings stay).",
    lambda conn, tables, slug: registry.set_competition_active(conn, tables, slug, False),
)
_competition_setter("remove", "removed", "Unregister SLUG and delete its standings.", registry.remove_competition)


@main.group()
def users() -> None:
    """Manage the platform users matched against Kaggle usernames."""


@users.command("add")
@click.argument("username")
@click.option("--kaggle-username", default=None, help="Kaggle username, when it differs from USERNAME.")
@database_url_option
def users_add(username: str, kaggle_username: str | None, database_url: str | None) -> None:
    """Add USERNAME, or change their Kaggle username."""
    with _database(database_url) as database, database.begin() as conn:
        counts = registry.import_users(conn, database.tables, [(username, kaggle_username)])
        user_keys.refresh(conn, database.tables)  # the next sync, scheduled too, credits them
    console.print(f"{'added' if counts.created else 'updated' if counts.updated else 'unchanged'}: {username}")


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_url_option
def users_import(file: Path, database_url: str | None) -> None:
    """Upsert users from a CSV with a `username` and an optional `kaggle_username` column."""
    with file.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if "username" not in (reader.fieldnames or []):
            _fail(f"{file}: the header needs a 'username' column (found: {', '.join(reader.fieldnames or [])})")
        rows = [
            (row["username"].strip(), (row.get("kaggle_username") or "").strip() or None)
            for row in reader
            if (row["username"] or "").strip()
        ]
    with _database(database_url) as database, database.begin() as conn:
        counts = registry.import_users(conn, database.tables, rows)
        user_keys.refresh(conn, database.tables)  # the next sync, scheduled too, credits them
    console.print(f"{counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged")


def _print_outcomes(outcomes: list[SyncOutcome], as_json: bool) -> None:
    if as_json:
        _print_json([outcome.as_dict() for outcome in outcomes])
    else:
        table = Table("competition", "status", "created", "updated", "unchanged", "removed", "skipped")
        for o in outcomes:
            colour = {"synced": "green", "failed": "red"}.get(o.status, "yellow")
            counts = (o.created, o.updated, o.unchanged, o.removed, o.skipped)
            table.add_row(o.competition, f"[{colour}]{o.status}[/{colour}]", *map(str, counts))
        console.print(table)
    # Causes go to stderr so that --json output stays parseable.
    for o in outcomes:
        if o.detail:
            err_console.print(o.detail, markup=False, highlight=False)


@main.command()
@click.argument("slugs", nargs=-1)
@click.option(
    "--source",
    default=None,
    metavar="kaggle|DIR",
    help="Download from Kaggle, or read <slug>.zip / <slug>.csv exports from DIR "
    "(default: $KAGGLE_LB_SOURCE, else kaggle).",
)
@json_option
@database_url_option
def sync(slugs: tuple[str, ...], source: str | None, as_json: bool, database_url: str | None) -> None:
    """Sync SLUGS (default: every active competition) through the Dagster assets."""
    with _database(database_url) as database, database.begin() as conn:
        known = registry.list_competitions(conn, database.tables)
    chosen = list(slugs) or [c.slug for c in known if c.is_active]
    unknown = sorted(set(chosen) - {c.slug for c in known})
    if unknown:
        how = (
            "add with `kaggle-lb competitions add SLUG`"
            if database.schema.competitions.built_in
            else f"not among the site's competitions ({database.schema.source})"
        )
        _fail(f"not registered: {', '.join(unknown)} ({how})")
    with Progress(console=err_console, transient=True, disable=not chosen) as progress:
        task = progress.add_task("syncing", total=len(chosen))
        outcomes = []
        for outcome in sync_competitions(chosen, database_url=database_url, source=source):
            outcomes.append(outcome)
            progress.advance(task)
    _print_outcomes(outcomes, as_json)
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)


def _standings_rows(database: DatabaseResource, slug: str) -> list[dict]:
    with database.begin() as conn:
        competition = registry.get_competition(conn, database.tables, slug)
        if competition is None:
            _fail(f"competition '{slug}' is not registered")
        return standings.read_standings(conn, database.tables, competition.id)


def _standings_table(slug: str, rows: list[dict]) -> Table:
    table = Table("rank", "username", "score", "team", "submissions", "last submission", title=slug)
    for row in rows:
        table.add_row(
            str(row["rank"]), row["username"], f"{row['score']:g}" if row["score"] is not None else "",
            row["kaggle_team_name"], "" if row["submission_count"] is None else str(row["submission_count"]),
            row["submission_date"].strftime("%Y-%m-%d %H:%M") if row["submission_date"] else "",
        )
    return table


@main.command("standings")
@click.argument("slug")
@json_option
@database_url_option
def standings_command(slug: str, as_json: bool, database_url: str | None) -> None:
    """The platform's entries for SLUG in rank order."""
    with _database(database_url) as database:
        rows = _standings_rows(database, slug)
    if as_json:
        _print_json(rows)
    else:
        console.print(_standings_table(slug, rows))


@main.command("checks")
@click.argument("slug", required=False)
@json_option
@database_url_option
def checks_command(slug: str | None, as_json: bool, database_url: str | None) -> None:
    """Latest check results and freshness per competition; exit 1 on a failing ERROR check or staleness."""
    if not os.environ.get("DAGSTER_HOME"):
        _fail("`checks` reads the Dagster instance: set DAGSTER_HOME to the one the daemon uses")
    window = quality_from_env().freshness_minutes
    now = datetime.now(timezone.utc)
    with _database(database_url) as database, database.begin() as conn:
        competitions = registry.list_competitions(conn, database.tables)
        if slug is not None:
            competitions = [c for c in competitions if c.slug == slug]
            if not competitions:
                _fail(f"competition '{slug}' is not registered")
        synced = {c.slug: standings.last_sync(conn, database.tables, c.id) for c in competitions}
    statuses = []
    with DagsterInstance.get() as instance:
        for competition in competitions:
            checks = health.check_statuses(instance, competition.slug, leaderboard_check_keys)
            statuses += [*checks, health.run_status(instance, competition.slug, checks)]
            if competition.is_active:
                last = synced[competition.slug]
                statuses.append(
                    health.freshness_status(competition.slug, last.synced_at if last else None, window, now)
                )
    if as_json:
        _print_json([asdict(status) for status in statuses])
    else:
        table = Table("competition", "check", "state", "priority", "detail")
        for s in statuses:
            colour = {FAILING: "red", PASSING: "green"}.get(s.state, "yellow")
            table.add_row(s.competition, s.name, f"[{colour}]{s.state}[/{colour}]", s.priority, s.description)
        console.print(table)
    if any(s.state == FAILING and s.priority == HIGH for s in statuses):
        sys.exit(1)


DEMO_COMPETITIONS = {
    "fcen-dm-2026-prediccion-precio-de-propiedades": "FCEN DM 2026: property prices (private board)",
    "orbit-wars": "Orbit Wars",
    "sberbank-russian-housing-market": "Sberbank Russian Housing Market (2017 export)",
}


@main.command()
@click.option(
    "--home",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Data directory for the demo (default: $KAGGLE_LB_HOME, else ./.kaggle_lb).",
)
def demo(home: Path | None) -> None:
    """Sync three real Kaggle exports into an SQLite database and print the standings."""
    home = (home or Path(os.environ.get("KAGGLE_LB_HOME") or ".kaggle_lb")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{home / 'demo.sqlite3'}"
    demo_files = package_files.files("kaggle_lb") / "demo"
    with _database(database_url) as database:
        database.initialise()
    with _database(database_url) as database, database.begin() as conn:
        for slug, title in DEMO_COMPETITIONS.items():
            registry.add_competition(conn, database.tables, slug, title)
        reader = csv.DictReader((demo_files / "users.csv").read_text(encoding="utf-8").splitlines())
        registry.import_users(conn, database.tables, [(r["username"], r["kaggle_username"] or None) for r in reader])
    console.print(f"demo database: {database_url}")
    with package_files.as_file(demo_files / "exports") as exports:
        outcomes = list(sync_competitions(list(DEMO_COMPETITIONS), database_url=database_url, source=str(exports)))
    _print_outcomes(outcomes, as_json=False)
    with _database(database_url) as database:
        for slug in DEMO_COMPETITIONS:
            console.print(_standings_table(slug, _standings_rows(database, slug)))
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)

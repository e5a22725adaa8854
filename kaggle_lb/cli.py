"""`kaggle-lb`: register competitions and users, sync through the Dagster assets, read standings.

Only click is imported up front: each command imports what it needs, so `--help` and the
commands that only read or write the site's database start without Dagster or pandas (those
load in `sync`, `checks` and `demo`, which run the assets) and `--help` without SQLAlchemy or Rich.
"""

import os
import sys
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import click

from kaggle_lb.errors import ConfigurationError

database_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="SQLAlchemy URL of the site's database (default: $KAGGLE_LB_DATABASE_URL, else SQLite under $KAGGLE_LB_HOME).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


# The database the running command opened, for its error messages (password masked).
_opened: dict[str, str] = {}


@contextmanager
def _database(database_url: str | None):
    from kaggle_lb.storage.database import DEFAULT_HOME, Database

    # The settings database_from_env reads, as plain values: no Dagster EnvVar outside a run.
    database = Database(
        url=database_url or os.environ.get("KAGGLE_LB_DATABASE_URL"),
        home=os.environ.get("KAGGLE_LB_HOME") or DEFAULT_HOME,
        site_schema=os.environ.get("KAGGLE_LB_SITE_SCHEMA") or None,
    )
    _opened["url"] = database.display_url
    try:
        yield database
    finally:
        database.dispose()


def _fail(*messages: str) -> None:
    from kaggle_lb import cli_output as out

    for message in messages:
        out.error(message)
    sys.exit(1)


def _database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's errors for a database that cannot be used; none was raised if SQLAlchemy was
    never imported (so an error in `--help` imports none)."""
    exc = sys.modules.get("sqlalchemy.exc")
    return (exc.ArgumentError, exc.NoSuchModuleError, exc.DBAPIError) if exc else ()


class _Commands(click.Group):
    """Turns what an operator can fix (a setting, the database, the site's tables) into one line
    per problem on stderr instead of a traceback; `--debug` shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigurationError as error:
            if ctx.params.get("debug"):
                raise
            _fail(*str(error).splitlines())
        except _database_errors() as error:
            if ctx.params.get("debug"):
                raise
            from kaggle_lb.storage.database import describe_database_error

            _fail(describe_database_error(error, _opened.get("url", "(not opened)")))


@click.group(cls=_Commands)
@click.version_option(package_name="kaggle-lb")
@click.option("--debug", is_flag=True, help="Show the traceback of an error instead of its one line.")
def main(debug: bool) -> None:
    """Keep a site's own leaderboard in sync with Kaggle."""


@main.command()
@database_url_option
def init(database_url: str | None) -> None:
    """Create kaggle-lb's tables, or upgrade them, and check the site's; safe to run again."""
    from kaggle_lb import cli_output as out

    with _database(database_url) as database:
        notes = database.initialise()
        out.say("database ready: ", out.plain(f"{database.display_url} ({database.schema.source})"))
        for note in notes:
            out.say(out.plain(note))


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
    from kaggle_lb import cli_output as out
    from kaggle_lb.slugs import competition_slug
    from kaggle_lb.storage import registry

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
    out.say("added: " if created else "already registered: ", out.plain(slug))


@competitions.command("list")
@json_option
@database_url_option
def competitions_list(as_json: bool, database_url: str | None) -> None:
    """List the competitions kaggle-lb syncs (the site's, with a site schema)."""
    from dataclasses import asdict

    from kaggle_lb import cli_output as out
    from kaggle_lb.storage import registry

    with _database(database_url) as database, database.begin() as conn:
        registered = registry.read_competitions(conn, database.tables)
    for problem in registered.problems:
        out.warning("skipped", problem)
    if as_json:
        out.print_json([{k: v for k, v in asdict(c).items() if k != "id"} for c in registered.competitions])
        return
    rows = out.table(("slug", out.KEY), ("title", out.TEXT), ("active", out.SHORT), ("better score", out.SHORT))
    for c in registered.competitions:
        out.add_row(rows, (c.slug, c.title, "yes" if c.is_active else "no", c.score_direction or "auto"))
    out.print_table(rows)


def _competition_setter(name: str, done: str, help_text: str, change):
    """A command changing one competition; `change(registry, conn, tables, slug)` says if it was found."""

    @competitions.command(name, help=help_text)
    @click.argument("slug")
    @database_url_option
    def command(slug: str, database_url: str | None) -> None:
        from kaggle_lb import cli_output as out
        from kaggle_lb.storage import registry

        with _database(database_url) as database, database.begin() as conn:
            found = change(registry, conn, database.tables, slug)
        if not found:
            _fail(f"competition '{slug}' is not registered")
        out.say(f"{done}: ", out.plain(slug))

    return command


_competition_setter(
    "activate",
    "activated",
    "Sync SLUG on the schedule again.",
    lambda registry, conn, tables, slug: registry.set_competition_active(conn, tables, slug, True),
)
_competition_setter(
    "deactivate",
    "deactivated",
    "Stop syncing SLUG on the schedule (its standings stay).",
    lambda registry, conn, tables, slug: registry.set_competition_active(conn, tables, slug, False),
)
_competition_setter(
    "remove",
    "removed",
    "Unregister SLUG and delete its standings.",
    lambda registry, conn, tables, slug: registry.remove_competition(conn, tables, slug),
)


@main.group()
def users() -> None:
    """Manage the platform users matched against Kaggle usernames."""


@users.command("add")
@click.argument("username")
@click.option("--kaggle-username", default=None, help="Kaggle username, when it differs from USERNAME.")
@database_url_option
def users_add(username: str, kaggle_username: str | None, database_url: str | None) -> None:
    """Add USERNAME, or change their Kaggle username."""
    from kaggle_lb import cli_output as out
    from kaggle_lb.storage import registry
    from kaggle_lb.users_file import kaggle_username_problem, username_problem

    username, kaggle_username = username.strip(), (kaggle_username or "").strip() or None
    problems = [username_problem(username), kaggle_username and kaggle_username_problem(kaggle_username)]
    if any(problems):
        _fail(*filter(None, problems))
    with _database(database_url) as database, database.begin() as conn:
        counts = registry.import_users(conn, database.tables, [(username, kaggle_username)])
        _refresh_user_keys(conn, database.tables)
    done = "added" if counts.created else "updated" if counts.updated else "unchanged"
    out.say(f"{done}: ", out.plain(username))


def _refresh_user_keys(conn, tables) -> None:
    """The users' key index brought up to date in the same transaction, so the next sync, a
    scheduled one too, credits the users just written (matching needs pandas: imported here)."""
    from kaggle_lb.storage import user_keys

    user_keys.refresh(conn, tables)


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@database_url_option
def users_import(file: Path, database_url: str | None) -> None:
    """Upsert users from FILE, a UTF-8 CSV with a `username` and an optional `kaggle_username`
    column, one user per line.

    The whole file is checked first: any problem (a malformed line, a wrong number of fields, a
    missing or repeated username, another column, text that is not UTF-8) is reported with its
    line numbers and nothing is written. Blank lines are skipped."""
    from kaggle_lb import cli_output as out
    from kaggle_lb.storage import registry
    from kaggle_lb.users_file import UsersFileError, read_users_file

    with out.progress(f"checking {file.name}", total=None) as update:
        try:
            rows = read_users_file(file, advance=lambda lines: update(advance=lines))
        except UsersFileError as error:
            _fail(*error.problems)
        update(description=f"writing {len(rows)} users", total=None)
        with _database(database_url) as database, database.begin() as conn:
            counts = registry.import_users(conn, database.tables, rows)
            _refresh_user_keys(conn, database.tables)
    out.say(f"{counts.created} created, {counts.updated} updated, {counts.unchanged} unchanged")


def _print_outcomes(outcomes: list, as_json: bool) -> None:
    from kaggle_lb import cli_output as out
    from kaggle_lb.sync import COUNT_KEYS

    if as_json:
        out.print_json([outcome.as_dict() for outcome in outcomes])
    else:
        rows = out.table(("competition", out.KEY), ("status", out.SHORT), ("result, or the cause", out.TEXT))
        for o in outcomes:
            colour = {"synced": "green", "failed": "red"}.get(o.status, "yellow")
            counts = ", ".join(f"{getattr(o, key)} {key}" for key in COUNT_KEYS)
            result = out.plain(o.detail, multiline=True) if o.detail else counts
            out.add_row(rows, (o.competition, out.plain(o.status, style=colour), result))
        out.print_table(rows)
    # The causes on stderr as well, whole and one to a line, for a log (and beside --json).
    for o in outcomes:
        if o.detail:
            out.stderr().print(out.plain(o.detail, multiline=True), soft_wrap=True)


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
    """Sync SLUGS (default: every active competition) through the Dagster assets; exit 1 when one failed."""
    from kaggle_lb import cli_output as out
    from kaggle_lb.storage import registry

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
    from kaggle_lb.sync import USER_KEYS_PHASE, sync_competitions

    outcomes = []
    # The phases: the users' keys, then each competition.
    with out.progress("starting", total=len(chosen) + 1) as update:

        def starting(phase: str) -> None:
            update(description=f"syncing {phase}", advance=0 if phase == USER_KEYS_PHASE else 1)

        for outcome in sync_competitions(chosen, database_url=database_url, source=source, starting=starting):
            outcomes.append(outcome)
    _print_outcomes(outcomes, as_json)
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)


def _competition(conn, database, slug: str):
    from kaggle_lb.storage import registry

    competition = registry.get_competition(conn, database.tables, slug)
    if competition is None:
        _fail(f"competition '{slug}' is not registered")
    return competition


def _standings_rows(database, slug: str) -> list[dict]:
    from kaggle_lb.storage.standings_read import read_standings

    with database.begin() as conn:
        return read_standings(conn, database.tables, _competition(conn, database, slug).id)


def _print_standings(slug: str, rows: list[dict]) -> None:
    from kaggle_lb import cli_output as out

    boards = {row["board"] for row in rows}
    title = f"{slug} (private board)" if boards == {"private"} else slug
    table = out.table(
        ("rank", out.NUMBER),
        ("move", out.SHORT),
        ("username", out.KEY),
        ("score", out.NUMBER),
        ("team", out.TEXT),
        ("entries", out.NUMBER),
        ("last submission", out.TEXT),
        title=title,
    )
    for row in rows:
        out.add_row(
            table,
            (
                row["rank"],
                out.movement(row["rank_change"]),
                row["username"],
                out.score_text(row["score"]),
                row["kaggle_team_name"],
                row["submission_count"],
                row["submission_date"].strftime("%Y-%m-%d %H:%M") if row["submission_date"] else None,
            ),
        )
    out.print_table(table)


@main.command("standings")
@click.argument("slug")
@json_option
@database_url_option
def standings_command(slug: str, as_json: bool, database_url: str | None) -> None:
    """The platform's entries for SLUG in rank order."""
    from kaggle_lb import cli_output as out

    with _database(database_url) as database:
        rows = _standings_rows(database, slug)
    if as_json:
        out.print_json(rows)
    else:
        _print_standings(slug, rows)


@main.command("history")
@click.argument("slug")
@click.argument("username", required=False)
@click.option(
    "--top",
    default=10,
    show_default=True,
    metavar="N",
    type=click.IntRange(min=1),
    help="Without USERNAME: the users now ranked in the top N.",
)
@click.option(
    "--chart",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE.png|.svg",
    help="Also draw their rank over time into FILE (PNG or SVG).",
)
@json_option
@database_url_option
def history_command(
    slug: str, username: str | None, top: int, chart: Path | None, as_json: bool, database_url: str | None
) -> None:
    """USERNAME's changes of standing on SLUG over time (entered, moved, left), or those of the top N."""
    from kaggle_lb import cli_output as out
    from kaggle_lb.storage import registry
    from kaggle_lb.storage.history_read import read_history
    from kaggle_lb.storage.standings_read import read_standings

    if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
        _fail(f"--chart {chart}: give a file name ending in .png or .svg")
    with _database(database_url) as database, database.begin() as conn:
        competition = _competition(conn, database, slug)
        if username is not None and not registry.has_user(conn, database.tables, username):
            _fail(f"no site user named '{username}'")
        standing = read_standings(conn, database.tables, competition.id)
        names = [username] if username is not None else [row["username"] for row in standing[:top]]
        rows = read_history(conn, database.tables, competition.id, names)
    if chart is not None:
        from kaggle_lb.history_chart import draw_ranks

        draw_ranks(rows, chart, f"{slug}: rank over time")
    if as_json:
        out.print_json(rows)
    else:
        table = out.table(
            ("time (UTC)", out.SHORT),
            ("username", out.KEY),
            ("change", out.SHORT),
            ("rank", out.SHORT),
            ("score", out.TEXT),
            ("board", out.SHORT),
            title=f"{slug}: {username or f'top {top}'}",
        )
        for row in rows:
            out.add_row(
                table,
                (
                    row["changed_at"].strftime("%Y-%m-%d %H:%M"),
                    row["username"],
                    row["change"],
                    out.change_text(row["old_rank"], row["new_rank"], str),
                    out.change_text(row["old_score"], row["new_score"], out.score_text),
                    row["board"],
                ),
            )
        out.print_table(table)
    if chart is not None:
        out.say("chart: ", out.plain(chart))


@main.command("missing")
@click.argument("slug")
@json_option
@database_url_option
def missing_command(slug: str, as_json: bool, database_url: str | None) -> None:
    """Site users with a Kaggle username that no row of SLUG's last synced board names, with the
    closest name on the board when one is within 2 edits (a typo to fix). Changes nothing."""
    from kaggle_lb import cli_output as out
    from kaggle_lb.errors import KaggleLbError
    from kaggle_lb.leaderboard.matching import row_keys
    from kaggle_lb.leaderboard.missing import missing_users
    from kaggle_lb.leaderboard.parsing import parse_leaderboard
    from kaggle_lb.storage import registry

    with _database(database_url) as database, database.begin() as conn:
        competition = _competition(conn, database, slug)
        users = registry.kaggle_usernames(conn, database.tables)
        # Where raw_leaderboard_csv keeps the last board it downloaded (CsvFileIOManager's layout).
        stored = Path(database.home).expanduser().resolve() / "raw" / "raw_leaderboard_csv" / f"{slug}.csv"
    if not stored.is_file():
        _fail(f"competition '{slug}': no synced board at {stored}; run `kaggle-lb sync {slug}` first")
    try:
        board = parse_leaderboard(stored.read_bytes(), slug, competition.score_direction)
    except KaggleLbError as error:
        _fail(str(error))
    found = missing_users(row_keys(board.reset_index(drop=True))[1], users)
    if as_json:
        out.print_json(
            [
                {
                    "username": m.username,
                    "kaggle_username": m.kaggle_username,
                    "closest": m.closest,
                    "distance": m.distance,
                }
                for m in found
            ]
        )
        return
    table = out.table(
        ("username", out.KEY),
        ("kaggle username", out.KEY),
        ("closest on the board", out.KEY),
        ("edits", out.NUMBER),
        title=f"{slug}: {len(found)} user(s) not on the board",
    )
    for m in found:
        out.add_row(table, (m.username, m.kaggle_username, m.closest, m.distance))
    out.print_table(table)


@main.command("checks")
@click.argument("slug", required=False)
@json_option
@database_url_option
def checks_command(slug: str | None, as_json: bool, database_url: str | None) -> None:
    """Latest check results and freshness per competition; exit 1 on a failing ERROR check or staleness."""
    from dataclasses import asdict
    from datetime import datetime

    from kaggle_lb import cli_output as out
    from kaggle_lb.assets import leaderboard_check_keys
    from kaggle_lb.quality import health
    from kaggle_lb.quality.alerts import FAILING, HIGH, PASSING
    from kaggle_lb.resources.from_env import quality_from_env
    from kaggle_lb.storage import polls, registry
    from kaggle_lb.sync import open_instance

    if not os.environ.get("DAGSTER_HOME"):
        _fail("`checks` reads the Dagster instance: set DAGSTER_HOME to the one the daemon uses")
    window = quality_from_env().freshness_minutes
    now = datetime.now(UTC)
    with _database(database_url) as database, database.begin() as conn:
        competitions = registry.list_competitions(conn, database.tables)
        if slug is not None:
            competitions = [c for c in competitions if c.slug == slug]
            if not competitions:
                _fail(f"competition '{slug}' is not registered")
        checked = polls.last_checked(conn, database.tables, [c.id for c in competitions])
    statuses = []
    with open_instance() as instance:
        for competition in competitions:
            checks = health.check_statuses(instance, competition.slug, leaderboard_check_keys)
            statuses += [*checks, health.run_status(instance, competition.slug, checks)]
            if competition.is_active:
                statuses.append(health.freshness_status(competition.slug, checked.get(competition.id), window, now))
    if as_json:
        out.print_json([asdict(status) for status in statuses])
    else:
        table = out.table(
            ("competition", out.KEY),
            ("check", out.KEY),
            ("state", out.SHORT),
            ("priority", out.SHORT),
            ("detail", out.TEXT),
        )
        for s in statuses:
            colour = {FAILING: "red", PASSING: "green"}.get(s.state, "yellow")
            out.add_row(
                table,
                (
                    s.competition,
                    s.name,
                    out.plain(s.state, style=colour),
                    s.priority,
                    out.plain(s.description, multiline=True),
                ),
            )
        out.print_table(table)
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
    """Sync three real Kaggle exports into an SQLite database and print the standings; with
    DAGSTER_HOME set, the runs are kept there for the UI."""
    from importlib import resources as package_files

    from kaggle_lb import cli_output as out
    from kaggle_lb.storage import registry
    from kaggle_lb.sync import sync_competitions
    from kaggle_lb.users_file import read_users_file

    home = (home or Path(os.environ.get("KAGGLE_LB_HOME") or ".kaggle_lb")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    # The default database under the data directory, so `dagster dev` with the same
    # KAGGLE_LB_HOME (and DAGSTER_HOME, where the runs are kept) shows the demo: `make dev`.
    database_url = f"sqlite:///{home / 'kaggle_lb.sqlite3'}"
    demo_files = package_files.files("kaggle_lb") / "demo"
    with _database(database_url) as database:
        database.initialise()
    with (
        _database(database_url) as database,
        database.begin() as conn,
        package_files.as_file(demo_files / "users.csv") as users_file,
    ):
        for slug, title in DEMO_COMPETITIONS.items():
            registry.add_competition(conn, database.tables, slug, title)
        registry.import_users(conn, database.tables, read_users_file(users_file))
    out.say("demo database: ", out.plain(database_url))
    with package_files.as_file(demo_files / "exports") as exports:
        outcomes = list(sync_competitions(list(DEMO_COMPETITIONS), database_url=database_url, source=str(exports)))
    _print_outcomes(outcomes, as_json=False)
    with _database(database_url) as database:
        for slug in DEMO_COMPETITIONS:
            _print_standings(slug, _standings_rows(database, slug))
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)

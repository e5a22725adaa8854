"""The board that counts: the real kaggle client against the fake Kaggle server, whose download
is the public board and whose leaderboard view turns private, through real Dagster runs."""

import pytest

from kaggle_lb.resources.kaggle_api import KaggleApiResource
from kaggle_lb.storage import registry
from kaggle_lb.storage.standings_read import read_standings
from kaggle_lb_tests.fake_kaggle import DOWNLOAD_LEADERBOARD_PATH, GET_LEADERBOARD_PATH
from kaggle_lb_tests.history.test_history import history, history_rows
from kaggle_lb_tests.pipeline import BOARD, Sync

# The Dagster instance on the same kind of database as the site, as the alert tests have it.
from kaggle_lb_tests.quality.test_alerts import Alerting, instance, receiver  # noqa: F401 (fixtures)


def row(team_id, name, score):
    return {"teamId": team_id, "teamName": name, "submissionDate": "2026-11-20T10:00:00Z", "score": score}


# The download (BOARD): Team Alpha (alice, bob) 0.95, carol 0.90, a benchmark, Dave Solo 0.85.
PUBLIC_VIEW = [row(101, "Team Alpha", "0.95"), row(102, "carol", "0.90"), row(104, "Dave Solo", "0.85")]
# The private board: carol first, the team third, and a team the download does not have.
PRIVATE_VIEW = [
    row(102, "carol", "0.93"),
    row(104, "Dave Solo", "0.91"),
    row(101, "Team Alpha", "0.88"),
    row(999, "Ghost Team", "0.80"),
]


@pytest.fixture
def kaggle_sync(instance, site, fake_kaggle, tmp_path):  # noqa: F811
    fake_kaggle.set_board("demo-comp", BOARD)
    fake_kaggle.set_view("demo-comp", PUBLIC_VIEW)
    # Two rows a page, so the private board's four come in two pages.
    return Sync(instance, site, KaggleApiResource(username="lb-bot", key="not-a-real-key", view_page_size=2), tmp_path)


def standings(sync) -> dict[str, tuple]:
    with sync.database.begin() as conn:
        competition = registry.get_competition(conn, sync.database.tables, "demo-comp")
        rows = read_standings(conn, sync.database.tables, competition.id)
    return {r["username"]: (r["rank"], r["score"], r["board"], r["rank_change"]) for r in rows}


def metadata(result, asset):
    (materialization,) = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in materialization.metadata.items()}


def test_the_standings_switch_to_the_private_board_once(kaggle_sync, fake_kaggle, site, receiver):  # noqa: F811
    alerting = Alerting(kaggle_sync.instance, site, receiver)
    first = kaggle_sync()
    assert standings(kaggle_sync) == {
        "alice": (1, 0.95, "public", None),
        "bob": (1, 0.95, "public", None),
        "carol_site": (2, 0.90, "public", None),
    }
    assert metadata(first, "matched_entries")["switched_to_private_board"] is False
    # While the view is the public board, one page of it is all that is read.
    assert [(r.path, r.body.get("pageToken")) for r in fake_kaggle.requests] == [
        (DOWNLOAD_LEADERBOARD_PATH, None),
        (GET_LEADERBOARD_PATH, None),
    ]
    alerting.tick()
    assert receiver.take() == []

    fake_kaggle.set_view("demo-comp", PUBLIC_VIEW, private=PRIVATE_VIEW)
    fake_kaggle.requests.clear()
    switched = kaggle_sync()

    assert standings(kaggle_sync) == {
        "carol_site": (1, 0.93, "private", 1),
        "alice": (3, 0.88, "private", -2),
        "bob": (3, 0.88, "private", -2),
    }
    assert [(r.path, r.body.get("pageToken"), r.body.get("pageSize")) for r in fake_kaggle.requests] == [
        (DOWNLOAD_LEADERBOARD_PATH, None, None),
        (GET_LEADERBOARD_PATH, None, 2),
        (GET_LEADERBOARD_PATH, "2", 2),
    ]
    validated = metadata(switched, "validated_leaderboard")
    assert validated["board"] == "private"
    # Reported, not guessed: nobody is credited for a team the download does not have.
    assert "999" in validated["missing_from_download"] and "Ghost Team" in validated["missing_from_download"]
    matched = metadata(switched, "matched_entries")
    assert (matched["board"], matched["switched_to_private_board"]) == ("private", True)
    assert sorted(change for change in history(kaggle_sync) if change[1] == "moved") == [
        ("alice", "moved", 1, 3, 0.95, 0.88, "private"),
        ("bob", "moved", 1, 3, 0.95, 0.88, "private"),
        ("carol_site", "moved", 2, 1, 0.90, 0.93, "private"),
    ]
    alerting.tick()
    (notice,) = receiver.take()
    assert notice["title"] == "[kaggle-lb] demo-comp: final standings: private board"
    assert notice["type"] == "info"

    rows = history_rows(kaggle_sync)
    again = kaggle_sync(scheduled=True)
    assert metadata(again, "matched_entries")["switched_to_private_board"] is False
    assert history_rows(kaggle_sync) == rows
    assert standings(kaggle_sync)["carol_site"] == (1, 0.93, "private", 1)
    alerting.tick()
    assert receiver.take() == []  # alerted once


def test_a_failing_view_is_retried_then_fails_the_sync_by_name(kaggle_sync, fake_kaggle, sleeps):
    fake_kaggle.set_view("demo-comp", PUBLIC_VIEW, private=PRIVATE_VIEW)
    fake_kaggle.queue_response("demo-comp", 503, path=GET_LEADERBOARD_PATH)
    assert kaggle_sync().success
    assert standings(kaggle_sync)["carol_site"][:3] == (1, 0.93, "private")
    assert len(sleeps) == 1

    fake_kaggle.queue_response("demo-comp", 403, path=GET_LEADERBOARD_PATH)
    failed = kaggle_sync(raise_on_error=False)
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("competition 'demo-comp': HTTP 403")
    assert standings(kaggle_sync)["carol_site"][:3] == (1, 0.93, "private")  # unchanged


def test_local_exports_have_no_view_and_stay_public(sync, exports):
    (exports / "demo-comp.csv").write_bytes(BOARD)
    result = sync()
    assert metadata(result, "validated_leaderboard")["board"] == "public"
    assert {board for _, _, board, _ in standings(sync).values()} == {"public"}


def test_a_team_submitting_between_the_download_and_the_view_is_no_private_board():
    import pandas as pd

    from kaggle_lb.leaderboard.private_board import ViewRow, is_private

    public = pd.DataFrame({"team_id": [1, 2, 3], "score": [0.9, 0.8, 0.7]})
    one_new_score = [ViewRow(1, "a", "0.95"), ViewRow(2, "b", "0.8"), ViewRow(3, "c", "0.7")]
    assert not is_private(one_new_score, public)
    assert is_private([ViewRow(1, "a", "0.5"), ViewRow(2, "b", "0.6"), ViewRow(3, "c", "0.7")], public)
    assert not is_private([], public)  # an empty view tells nothing

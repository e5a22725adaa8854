"""The data-quality rules as plain functions, and the alert state machine."""

import re

import pandas as pd
import pytest

from kaggle_lb.leaderboard.parsing import parse_leaderboard
from kaggle_lb.quality import board_checks
from kaggle_lb.quality.alerts import FAILING, HIGH, LOW, PASSING, UNKNOWN, Status, changes
from kaggle_lb_tests.fixtures import FIXTURES_DIR
from kaggle_lb_tests.pipeline import board


def raw(*rows: str):
    return parse_leaderboard(board(*rows), "comp")


def rows_with_scores(*scores, ranks=None):
    ranks = ranks or range(1, len(scores) + 1)
    return raw(*(f'{r},{100 + i},t{i},"2026-11-01 10:00:00",{s},1,m{i}' for i, (r, s) in enumerate(zip(ranks, scores))))


@pytest.mark.parametrize("path", sorted(FIXTURES_DIR.glob("*.csv")), ids=lambda p: p.name[:30])
def test_every_real_export_passes_every_board_rule(path):
    content = path.read_bytes()
    board = parse_leaderboard(content, "comp")
    outcomes = [
        board_checks.required_columns(board_checks.header_of(content), "comp"),
        board_checks.unique_team_ids(board),
        board_checks.not_empty(board, existing_entries=10),
        board_checks.row_count_drop(board, len(board), 0.5, existing_entries=10),
        board_checks.scores_vary(board, 5),
        board_checks.ranks_follow_scores(board, None),
    ]
    assert all(o.passed for o in outcomes), [o.description for o in outcomes if not o.passed]


def test_ranks_follow_scores_allows_ties_and_skips_benchmarks():
    board = rows_with_scores(0.9, 0.9, 0.5, 0.99, 0.4, ranks=[1, 2, 3, 0, 4])
    outcome = board_checks.ranks_follow_scores(board, None)
    assert outcome.passed and outcome.metadata["direction"] == "higher"


def test_ranks_out_of_order_are_reported_with_their_neighbours():
    outcome = board_checks.ranks_follow_scores(rows_with_scores(0.1, 0.2, 0.3, 0.25, 0.5), None)
    assert not outcome.passed
    assert outcome.metadata == {"direction": "lower", "direction_source": "inferred", "out_of_order_rows": 1}
    assert list(outcome.sample["score"]) == [0.3, 0.25]


def test_row_count_drop_threshold():
    board = rows_with_scores(*[0.5] * 4)
    assert board_checks.row_count_drop(board, 8, 0.5, existing_entries=1).passed  # exactly half: allowed
    assert not board_checks.row_count_drop(board, 9, 0.5, existing_entries=1).passed
    assert board_checks.row_count_drop(board, None, 0.5, existing_entries=1).passed


def test_equal_scores_fail_only_beyond_a_handful_of_rows():
    assert board_checks.scores_vary(rows_with_scores(*[0.0] * 5), 5).passed
    assert not board_checks.scores_vary(rows_with_scores(*[0.0] * 6), 5).passed


def test_a_renamed_column_is_named_in_the_failure():
    header = board_checks.header_of(b"\xef\xbb\xbfRank,TeamId,TeamName,LastSubmissionDate,PublicScore\n1,2,a,b,0.1\n")
    outcome = board_checks.required_columns(header, "comp")
    assert not outcome.passed and "Score" in outcome.description


def test_contested_names_are_reported_with_every_claimant():
    assert board_checks.contested_names({}).passed
    outcome = board_checks.contested_names({"alice": ["alice", "Alice", " alice ", "mallory"], "bo": ["bo", "Bo"]})
    assert not outcome.passed
    assert outcome.description.startswith("2 name(s) on the board are claimed by more than one site user")
    assert "'alice' by 'alice', 'Alice', ' alice ', 'mallory'; 'bo' by 'bo', 'Bo'" in outcome.description
    assert outcome.metadata == {
        "contested_names": 2,
        "claims": {"alice": ["alice", "Alice", " alice ", "mallory"], "bo": ["bo", "Bo"]},
    }
    assert outcome.sample.to_dict("records") == [
        {"name": "alice", "users": 4, "claimed_by": "'alice', 'Alice', ' alice ', 'mallory'"},
        {"name": "bo", "users": 2, "claimed_by": "'bo', 'Bo'"},
    ]


def test_many_contested_names_are_listed_up_to_a_bound():
    claims = {f"n{i}": [f"u{i}-{j}" for j in range(30)] for i in range(50)}
    outcome = board_checks.contested_names(claims)
    assert "and 40 more names" in outcome.description and "and 20 more" in outcome.description
    assert len(outcome.description) < 2000


def status(state, name="scores_vary_check", priority=HIGH):
    return Status("comp", name, state, priority, "detail", "run-1")


def test_alerts_fire_on_changes_of_state_only():
    first = changes({}, [status(FAILING), status(PASSING, "run")])
    assert [(a.status.name, a.recovered) for a in first] == [("scores_vary_check", False)]
    assert changes({"comp|scores_vary_check": FAILING}, [status(FAILING)]) == []
    assert changes({"comp|scores_vary_check": FAILING}, [status(UNKNOWN)]) == []
    (recovery,) = changes({"comp|scores_vary_check": FAILING}, [status(PASSING)])
    assert recovery.recovered and recovery.notify_type == "success"
    assert changes({}, [status(PASSING)]) == []


def test_warn_checks_alert_with_lower_priority():
    (alert,) = changes({}, [status(FAILING, "match_rate_check", LOW)])
    assert alert.notify_type == "warning" and "LOW" in alert.title()
    assert "http://ui/runs/run-1" in alert.body("http://ui/")


def test_reconciliation_names_the_entries_that_differ():
    written = pd.DataFrame({"user_id": [1, 2], "rank": [1, 2], "score": [0.9, 0.8], "kaggle_team_id": [10, 11]})
    stored = written.assign(rank=[1, 999])
    outcome = board_checks.reconciliation(stored, written)
    assert not outcome.passed and outcome.metadata["differences"] == 2
    assert "999" in outcome.sample_markdown()
    assert board_checks.reconciliation(written, written).passed


def test_board_text_in_markdown_metadata_is_text():
    from kaggle_lb.quality.markdown import markdown_table

    frame = pd.DataFrame({"team": ["[PHISH](https://evil.example/login)", "a|b", "<img src=x>", "*bold*\nnext"]})
    table = markdown_table(frame)
    assert "[PHISH](" not in table and "\\[PHISH\\]\\(https" in table
    assert "a\\|b" in table and "\\<img" in table and not re.search(r"(?<!\\)<img", table)
    assert "\\*bold\\*" in table
    assert len(table.splitlines()) == 2 + len(frame)  # a line break in a name makes no new row
    # The offending-rows sample of a check goes through the same escaping.
    outcome = board_checks.unique_team_ids(
        raw(
            '1,10,"[PHISH](https://evil.example/login)","2026-11-01 10:00:00",0.9,1,a',
            '2,10,"a|b","2026-11-01 10:00:00",0.8,1,b',
        )
    )
    assert not outcome.passed and "[PHISH](" not in outcome.sample_markdown()

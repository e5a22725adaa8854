"""Competitions and users in the registry."""

from kaggle_lb.storage import registry


def test_users_import_upserts(database):
    with database.begin() as conn:
        first = registry.import_users(conn, database.tables, [("ann", "AnnK"), ("bo", None)])
        second = registry.import_users(conn, database.tables, [("ann", "ann-k"), ("bo", None), ("cy", "")])
        users = registry.load_users(conn, database.tables)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (1, 1, 1)
    assert users.set_index("username")["kaggle_username"].to_dict() == {"ann": "ann-k", "bo": None, "cy": None}


def test_fingerprint_follows_any_change_that_could_change_a_match(database):
    with database.begin() as conn:
        registry.import_users(conn, database.tables, [("ann", "a1")])
        before = registry.fingerprint_users(registry.load_users(conn, database.tables))
        assert registry.fingerprint_users(registry.load_users(conn, database.tables)) == before
        registry.import_users(conn, database.tables, [("ann", "a2")])
        assert registry.fingerprint_users(registry.load_users(conn, database.tables)) != before


def test_competitions_lifecycle(database):
    with database.begin() as conn:
        assert registry.add_competition(conn, database.tables, "alpha", "Alpha")
        assert not registry.add_competition(conn, database.tables, "alpha", "Alpha v2")
        assert registry.set_competition_active(conn, database.tables, "alpha", False)
        assert not registry.set_competition_active(conn, database.tables, "missing", False)
        (alpha,) = registry.list_competitions(conn, database.tables)
        assert (alpha.title, alpha.is_active) == ("Alpha v2", False)
        assert registry.list_competitions(conn, database.tables, active_only=True) == []
        assert registry.remove_competition(conn, database.tables, "alpha")
        assert registry.get_competition(conn, database.tables, "alpha") is None


def test_board_users_are_exactly_the_users_matching_credits(database):
    """SQL narrows with ASCII rules; Python's strip().casefold() decides (ß, Kelvin sign, long s)."""
    from kaggle_lb.leaderboard.matching import user_keys

    users = [("ann", " Straße "), ("kel", "\u212aelvin"), ("sam", "ſam"), ("Bo", None), ("cy", "  "),
             ("dee", "other"), ("ëve", None), ("İsa", None), ("tab", "\tTab\x1c")]
    keys = {"strasse", "kelvin", "sam", "bo", "cy", "ëve", "tab"}
    with database.begin() as conn:
        registry.import_users(conn, database.tables, users)
        everyone = registry.load_users(conn, database.tables)
        board_users = registry.load_board_users(conn, database.tables, keys)
        nobody = registry.load_board_users(conn, database.tables, {"no-such-user"})
    expected = everyone[[key in keys for key in user_keys(everyone)]].reset_index(drop=True)
    assert board_users.equals(expected)
    assert set(board_users["username"]) == {"ann", "kel", "sam", "Bo", "cy", "ëve", "tab"}
    assert nobody.empty and list(nobody.columns) == ["user_id", "username", "kaggle_username"]

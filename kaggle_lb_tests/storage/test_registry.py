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

"""`kaggle-lb users import FILE` checks the whole file first: every problem is reported with its
line numbers, and a file with any problem writes nothing."""

import codecs

import pytest


@pytest.fixture
def users_in_db(database_url):
    from kaggle_lb.storage.database import Database

    """The (username, kaggle_username) pairs stored, read straight from the database."""

    def read() -> list[tuple[str, str | None]]:
        database = Database(url=database_url)
        try:
            with database.begin() as conn:
                tables = database.tables
                return sorted(
                    conn.execute(tables.users.select().with_only_columns(tables.username, tables.kaggle_username)).all()
                )
        finally:
            database.dispose()

    return read


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_a_good_file_with_blank_lines_and_a_bom_is_imported(invoke, tmp_path, users_in_db):
    path = tmp_path / "users.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"\r\nusername,kaggle_username\r\n\r\nana,ana-k\r\n   \r\n bo , \r\n")

    assert "2 created, 0 updated, 0 unchanged" in invoke("users", "import", str(path)).stdout
    assert users_in_db() == [("ana", "ana-k"), ("bo", None)]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        # Unbalanced quotes are that line's problem; the lines after are still read.
        ('username,kaggle_username\n"ana,ana-k\nbo,\n"cy,x\n', ["users.csv, lines 2, 4: unbalanced quotes"]),
        ('username,kaggle_username\nana,"an"a\nbo,\n', ["users.csv, line 2: malformed quoting"]),
        (
            "username,kaggle_username\nana,ana-k,extra\nbo\ncy,c\ndi,d,x\n",
            [
                "users.csv, lines 2, 5: 3 field(s) where the header has 2",
                "users.csv, line 3: 1 field(s) where the header has 2",
            ],
        ),
        (
            "username,kaggle_username\nana,\nbo,\nana,a2\nbo,b2\n",
            [
                "users.csv, line 4: username 'ana' is also on line 2",
                "users.csv, line 5: username 'bo' is also on line 3",
            ],
        ),
        ("username,kaggle_username\n,ana-k\nbo,\n  ,x\n", ["users.csv, lines 2, 4: no username"]),
        ("username,kaggle_username,email\nana,a,a@x\n", ["users.csv, line 1: unknown column(s) 'email'"]),
        ("kaggle_username\nana\n", ["users.csv, line 1: the header has no 'username' column"]),
        ("username,username\nana,ana\n", ["users.csv, line 1: column(s) named twice: 'username'"]),
        ("username\nana\x1b[2J\n", ["users.csv, line 2: a control character in the username"]),
        (b"username\nana\nbj\xf6rn\nb\xe9a\n", ["users.csv, lines 3-4: not UTF-8 text; save the file as UTF-8"]),
        ("username\nana\n".encode("utf-16"), ["users.csv: UTF-16 or UTF-32 text"]),
        ("username\nana\n".encode("utf-16-le"), ["users.csv, lines 1-3: NUL bytes (UTF-16 text?)"]),
        ("", ["users.csv: empty; expected a header username,kaggle_username"]),
        ("\n  \n", ["users.csv: only blank lines"]),
    ],
    ids=[
        "unbalanced-quotes",
        "malformed-quoting",
        "column-count",
        "duplicates",
        "blank-username",
        "extra-column",
        "no-username-column",
        "column-twice",
        "control-character",
        "latin-1",
        "utf-16-bom",
        "utf-16-no-bom",
        "empty",
        "only-blank-lines",
    ],
)
def test_a_malformed_file_names_every_problem_and_writes_nothing(content, said, invoke, tmp_path, users_in_db):
    invoke("users", "add", "zoe")  # the users before the import, which must stay exactly so
    path = tmp_path / "users.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())

    result = invoke("users", "import", str(path), expect=1)

    lines = errors(result)
    assert len(lines) == len(said), result.stderr
    for line, expected in zip(lines, said):
        assert line.startswith("error: " + str(path).removesuffix("users.csv")) and expected in line, result.stderr
    assert "Traceback" not in result.output
    assert users_in_db() == [("zoe", None)]


def test_users_add_refuses_a_blank_or_control_character_name(invoke, users_in_db):
    assert "no username" in invoke("users", "add", "  ", expect=1).stderr
    assert "control character" in invoke("users", "add", "ana\x1b]0;pwned\x07", expect=1).stderr
    assert "control character" in invoke("users", "add", "ana", "--kaggle-username", "a\x9bk", expect=1).stderr
    assert users_in_db() == []


def test_the_help_says_blank_lines_are_skipped(invoke):
    assert "Blank lines are skipped" in " ".join(invoke("users", "import", "--help").stdout.split())

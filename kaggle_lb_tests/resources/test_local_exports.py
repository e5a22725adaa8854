"""LocalExportsResource and the ZIP reading it shares with the Kaggle API source."""

import io
import os
import zipfile
from datetime import UTC

import pytest

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.resources.leaderboard_source import LocalExportsResource, read_csv_from_zip
from kaggle_lb_tests.fixtures import FIXTURES_DIR

SLUG = "house-prices-advanced-regression-techniques"
MEMBER = f"{SLUG}-publicleaderboard-2025-07-07T16:40:20.csv"


@pytest.fixture
def csv_bytes() -> bytes:
    return (FIXTURES_DIR / f"{SLUG}-publicleaderboard-2025-07-07T16_40_20.csv").read_bytes()


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_reads_a_zip_export_without_extracting_it(tmp_path, csv_bytes):
    (tmp_path / f"{SLUG}.zip").write_bytes(make_zip({MEMBER: csv_bytes}))

    download = LocalExportsResource(directory=str(tmp_path)).download_leaderboard(SLUG)

    assert (download.competition, download.file_name, download.content) == (SLUG, MEMBER, csv_bytes)
    assert download.downloaded_at.tzinfo == UTC
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{SLUG}.zip"]


def test_reads_a_csv_export(tmp_path, csv_bytes):
    (tmp_path / f"{SLUG}.csv").write_bytes(csv_bytes)

    download = LocalExportsResource(directory=str(tmp_path)).download_leaderboard(SLUG)

    assert (download.file_name, download.content) == (f"{SLUG}.csv", csv_bytes)


def test_zip_wins_over_csv(tmp_path, csv_bytes):
    (tmp_path / f"{SLUG}.csv").write_bytes(b"stale")
    (tmp_path / f"{SLUG}.zip").write_bytes(make_zip({MEMBER: csv_bytes}))

    assert LocalExportsResource(directory=str(tmp_path)).download_leaderboard(SLUG).content == csv_bytes


def test_missing_export_names_the_paths_looked_at(tmp_path):
    with pytest.raises(LeaderboardDownloadError) as raised:
        LocalExportsResource(directory=str(tmp_path)).download_leaderboard("titanic")

    assert raised.value.competition == "titanic"
    assert str(tmp_path / "titanic.zip") in str(raised.value)
    assert str(tmp_path / "titanic.csv") in str(raised.value)


@pytest.mark.parametrize("extension", ["zip", "csv"])
@pytest.mark.parametrize("target", ["outside", "inside", "dangling"])
def test_a_symbolic_link_is_refused_wherever_it_points(tmp_path, csv_bytes, extension, target):
    exports = tmp_path / "exports"
    exports.mkdir()
    content = make_zip({MEMBER: csv_bytes}) if extension == "zip" else csv_bytes
    pointed_at = {"outside": tmp_path / "secret", "inside": exports / "real", "dangling": tmp_path / "gone"}[target]
    if target != "dangling":
        pointed_at.write_bytes(content)
    link = exports / f"{SLUG}.{extension}"
    link.symlink_to(pointed_at)

    with pytest.raises(LeaderboardDownloadError) as raised:
        LocalExportsResource(directory=str(exports)).download_leaderboard(SLUG)

    assert raised.value.competition == SLUG
    assert str(raised.value) == (
        f"competition '{SLUG}': the leaderboard export {link} is a symbolic link; "
        "only a regular file in the directory is read"
    )


def test_a_symbolic_link_to_a_zip_does_not_fall_back_to_the_csv(tmp_path, csv_bytes):
    (tmp_path / "elsewhere.zip").write_bytes(make_zip({MEMBER: csv_bytes}))
    (tmp_path / f"{SLUG}.zip").symlink_to(tmp_path / "elsewhere.zip")
    (tmp_path / f"{SLUG}.csv").write_bytes(csv_bytes)

    with pytest.raises(LeaderboardDownloadError, match="is a symbolic link"):
        LocalExportsResource(directory=str(tmp_path)).download_leaderboard(SLUG)


@pytest.mark.parametrize(
    "make, kind",
    [(os.mkdir, "a directory"), (os.mkfifo, "a device, FIFO or socket")],
    ids=["directory", "fifo"],
)
@pytest.mark.parametrize("extension", ["zip", "csv"])
def test_anything_but_a_regular_file_is_refused(tmp_path, extension, make, kind):
    path = tmp_path / f"{SLUG}.{extension}"
    make(path)  # a FIFO nobody writes to: opening it to read would wait forever

    with pytest.raises(LeaderboardDownloadError) as raised:
        LocalExportsResource(directory=str(tmp_path)).download_leaderboard(SLUG)

    assert str(raised.value) == (
        f"competition '{SLUG}': the leaderboard export {path} is {kind}; only a regular file in the directory is read"
    )


@pytest.mark.parametrize("slug", ["../secrets", "a/b", "..", "/etc/passwd", "Titanic", "titanic.csv", "x y", ""])
def test_bad_slug_is_rejected(tmp_path, slug):
    (tmp_path.parent / "secrets.csv").write_bytes(b"a,b\n1,2\n")

    with pytest.raises(LeaderboardDownloadError, match="not a valid Kaggle competition slug"):
        LocalExportsResource(directory=str(tmp_path)).download_leaderboard(slug)


def test_empty_csv_is_an_error(tmp_path):
    (tmp_path / f"{SLUG}.csv").write_bytes(b"")

    with pytest.raises(LeaderboardDownloadError, match="is empty"):
        LocalExportsResource(directory=str(tmp_path)).download_leaderboard(SLUG)


def test_oversized_csv_export_is_an_error(tmp_path):
    (tmp_path / f"{SLUG}.csv").write_bytes(b"x" * 11)

    with pytest.raises(LeaderboardDownloadError, match="larger than the limit of 10 bytes"):
        LocalExportsResource(directory=str(tmp_path), max_csv_bytes=10).download_leaderboard(SLUG)


@pytest.mark.parametrize(
    "members, expected",
    [
        ({"a.csv": b"x", "b.csv": b"y"}, "holds 2 CSV files, expected one"),
        ({"readme.txt": b"x"}, "holds no CSV file"),
        ({}, "holds no CSV file"),
        ({"../x.csv": b"x"}, "unsafe path: '../x.csv'"),
        ({"dir/../../x.csv": b"x"}, "unsafe path"),
        ({"/abs/x.csv": b"x"}, "unsafe path"),
        ({"..\\x.csv": b"x"}, "unsafe path"),
        ({MEMBER: b""}, "is empty"),
        ({"x" * 300 + ".csv": b"x"}, "CSV member has a name of 304 characters, over the limit of 255"),
    ],
)
def test_bad_zip_contents_are_errors(members, expected):
    with pytest.raises(LeaderboardDownloadError, match=expected) as raised:
        read_csv_from_zip(make_zip(members), SLUG)
    assert raised.value.competition == SLUG


def test_csv_in_a_subfolder_and_directory_entries_are_fine(csv_bytes):
    zip_bytes = make_zip({"export/": b"", f"export/{MEMBER}": csv_bytes, "notes.txt": b"hi"})

    assert read_csv_from_zip(zip_bytes, SLUG) == (f"export/{MEMBER}", csv_bytes)


@pytest.mark.parametrize(
    "payload, expected",
    [
        (b"", "is empty"),
        (b"Rank,TeamId\n1,2\n", "not a readable ZIP"),
        (make_zip({MEMBER: b"a,b\n" * 1000})[:-30], "not a readable ZIP"),  # truncated central directory
        (make_zip({MEMBER: b"a,b\n" * 1000})[:60], "not a readable ZIP"),  # cut inside the member
    ],
)
def test_not_a_zip_or_truncated_zip_is_an_error(payload, expected):
    with pytest.raises(LeaderboardDownloadError, match=expected):
        read_csv_from_zip(payload, SLUG)


def test_declared_size_over_the_limit_is_rejected():
    with pytest.raises(LeaderboardDownloadError, match="1000 bytes uncompressed, over the limit of 999 bytes"):
        read_csv_from_zip(make_zip({MEMBER: b"x" * 1000}), SLUG, max_csv_bytes=999)


def test_a_zip_that_lies_about_its_size_is_not_inflated_past_the_limit():
    bomb = make_zip({MEMBER: b"0" * 1_000_000})
    header = zipfile.ZipFile(io.BytesIO(bomb)).infolist()[0]
    assert header.file_size == 1_000_000
    # Rewrite the declared uncompressed size (local header and central directory) to 100 bytes.
    real, fake = (1_000_000).to_bytes(4, "little"), (100).to_bytes(4, "little")
    lying = bomb.replace(real, fake)

    with pytest.raises(LeaderboardDownloadError, match="not a readable ZIP: Bad CRC-32"):
        read_csv_from_zip(lying, SLUG, max_csv_bytes=1000)


def test_reads_from_an_open_file_too(tmp_path, csv_bytes):
    path = tmp_path / "download.zip"
    path.write_bytes(make_zip({MEMBER: csv_bytes}))

    with path.open("rb") as archive:
        assert read_csv_from_zip(archive, SLUG) == (MEMBER, csv_bytes)

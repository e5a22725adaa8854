"""Where leaderboard CSVs come from: the source interface, a local-directory source and ZIP reading."""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import dagster as dg
from pydantic import Field

from kaggle_lb.errors import LeaderboardDownloadError
from kaggle_lb.leaderboard.private_board import ViewPage, ViewRow

DEFAULT_MAX_CSV_BYTES = 200 * 1024 * 1024

# Kaggle competition slugs are lowercase letters, digits and hyphens; anything else (a "/",
# "..", a dot, a space) could point a file path outside the directory it is joined to.
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_READ_CHUNK = 1024 * 1024
# The member's name becomes run metadata; Kaggle's are "<slug>-publicleaderboard-<time>.csv", and
# no file system takes a longer name.
_MAX_MEMBER_NAME_CHARS = 255


@dataclass(frozen=True)
class LeaderboardDownload:
    """One competition's leaderboard CSV, exactly as the source handed it over."""

    competition: str
    file_name: str  # member name inside the ZIP, or the CSV's file name
    content: bytes  # the CSV bytes exactly as sent (BOM and line endings included)
    downloaded_at: datetime  # timezone-aware UTC


class LeaderboardSource(dg.ConfigurableResource):
    """Anything that can hand over one competition's leaderboard CSV."""

    max_csv_bytes: int = Field(
        default=DEFAULT_MAX_CSV_BYTES,
        description="Largest leaderboard CSV accepted, in bytes (uncompressed). Guards against ZIP bombs.",
    )

    def download_leaderboard(self, competition: str) -> LeaderboardDownload:
        raise NotImplementedError

    def view_first_page(self, competition: str) -> ViewPage | None:
        """The first page of the competition's leaderboard view; None for a source with no view
        (local exports)."""
        return None

    def private_view(self, competition: str, public, first_page: ViewPage) -> list[ViewRow] | None:
        """The private board's rows, every page of the view, when `first_page` shows the view is
        the private board (compared with the downloaded board `public`); None while it is the public one."""
        return None


def validate_slug(competition: str) -> None:
    """Reject anything that is not a Kaggle slug, so it can never escape a directory or URL path."""
    if not isinstance(competition, str) or not _SLUG_RE.fullmatch(competition):
        raise LeaderboardDownloadError(
            str(competition),
            "not a valid Kaggle competition slug (expected lowercase letters, digits and hyphens, "
            "as in the competition's URL, e.g. 'titanic')",
        )


def _is_unsafe_member_name(name: str) -> bool:
    # Checked with both separators: ZIPs made on Windows may use backslashes. A colon alone is
    # fine (Kaggle's member names contain them); only a drive-letter prefix makes a name absolute.
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[/\\]", name):
        return True
    return ".." in re.split(r"[/\\]", name)


def _read_capped(stream, competition: str, what: str, max_bytes: int) -> bytes:
    """Read at most max_bytes; a longer stream is an error rather than a memory blow-up."""
    buffer = io.BytesIO()
    while chunk := stream.read(min(_READ_CHUNK, max_bytes + 1 - buffer.tell())):
        buffer.write(chunk)
        if buffer.tell() > max_bytes:
            raise LeaderboardDownloadError(competition, f"{what} is larger than the limit of {max_bytes} bytes")
    content = buffer.getvalue()
    if not content:
        raise LeaderboardDownloadError(competition, f"{what} is empty")
    return content


def read_csv_from_zip(
    zip_file: bytes | BinaryIO,
    competition: str,
    max_csv_bytes: int = DEFAULT_MAX_CSV_BYTES,
) -> tuple[str, bytes]:
    """Return (member name, bytes) of the single CSV inside a leaderboard ZIP, given as bytes or
    as a binary file open for reading.

    The member is read in memory, never extracted: Kaggle's member names contain colons,
    which some file systems refuse, and nothing from the archive should pick a path on disk.
    """
    source = io.BytesIO(zip_file) if isinstance(zip_file, bytes) else zip_file
    if source.seek(0, os.SEEK_END) == 0:
        raise LeaderboardDownloadError(competition, "the leaderboard download is empty")
    source.seek(0)

    try:
        with zipfile.ZipFile(source) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            unsafe = [info.filename for info in members if _is_unsafe_member_name(info.filename)]
            if unsafe:
                raise LeaderboardDownloadError(
                    competition, f"the leaderboard ZIP holds a member with an unsafe path: {unsafe[0]!r}"
                )
            csv_members = [info for info in members if info.filename.lower().endswith(".csv")]
            if not csv_members:
                names = [info.filename for info in members]
                raise LeaderboardDownloadError(competition, f"the leaderboard ZIP holds no CSV file (members: {names})")
            if len(csv_members) > 1:
                names = [info.filename for info in csv_members]
                raise LeaderboardDownloadError(
                    competition, f"the leaderboard ZIP holds {len(csv_members)} CSV files, expected one: {names}"
                )
            member = csv_members[0]
            if len(member.filename) > _MAX_MEMBER_NAME_CHARS:
                raise LeaderboardDownloadError(
                    competition,
                    f"the leaderboard ZIP's CSV member has a name of {len(member.filename)} characters, "
                    f"over the limit of {_MAX_MEMBER_NAME_CHARS}",
                )
            what = f"leaderboard CSV {member.filename!r}"
            if member.file_size > max_csv_bytes:
                raise LeaderboardDownloadError(
                    competition,
                    f"{what} is {member.file_size} bytes uncompressed, over the limit of {max_csv_bytes} bytes",
                )
            # The declared size can lie; zipfile stops there and reports a CRC error, and the read
            # is capped on its own as well, so memory stays bounded whatever the archive claims.
            with archive.open(member) as stream:
                return member.filename, _read_capped(stream, competition, what, max_csv_bytes)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # BadZipFile: not a ZIP, truncated, or a CRC mismatch; zlib.error/EOFError: corrupt or cut-off
        # deflate data; NotImplementedError: unsupported compression; RuntimeError: encrypted member.
        raise LeaderboardDownloadError(competition, f"the leaderboard download is not a readable ZIP: {exc}") from exc


class LocalExportsResource(LeaderboardSource):
    """Reads leaderboards exported by hand from Kaggle into a directory: <slug>.zip or <slug>.csv."""

    directory: str = Field(
        description="Directory holding one file per competition, named <slug>.zip (as downloaded from "
        "Kaggle) or <slug>.csv (already unzipped). The ZIP wins when both exist."
    )

    def download_leaderboard(self, competition: str) -> LeaderboardDownload:
        validate_slug(competition)
        directory = Path(self.directory)
        zip_path = directory / f"{competition}.zip"
        csv_path = directory / f"{competition}.csv"
        if (export := _open_export(zip_path, competition)) is not None:
            with export:
                file_name, content = read_csv_from_zip(export, competition, self.max_csv_bytes)
        elif (export := _open_export(csv_path, competition)) is not None:
            with export:
                content = _read_capped(export, competition, f"leaderboard CSV {str(csv_path)!r}", self.max_csv_bytes)
            file_name = csv_path.name
        else:
            raise LeaderboardDownloadError(
                competition, f"no leaderboard export found: looked for {zip_path} and {csv_path}"
            )
        return LeaderboardDownload(
            competition=competition,
            file_name=file_name,
            content=content,
            downloaded_at=datetime.now(UTC),
        )


def _open_export(path: Path, competition: str) -> BinaryIO | None:
    """The export at `path` open for reading, or None when there is none. Only a regular file is
    read: a symbolic link could point anywhere outside the directory, and a FIFO or device is no
    export. O_NOFOLLOW refuses a link in the open itself and the check is on the file opened, so
    the path cannot be swapped in between; O_NONBLOCK keeps the open of a FIFO from waiting."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        cause = "is a symbolic link" if exc.errno == errno.ELOOP else f"cannot be opened: {exc.strerror}"
        raise LeaderboardDownloadError(
            competition, f"the leaderboard export {path} {cause}; only a regular file in the directory is read"
        ) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = "a directory" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
        raise LeaderboardDownloadError(
            competition, f"the leaderboard export {path} is {kind}; only a regular file in the directory is read"
        )
    return os.fdopen(descriptor, "rb")

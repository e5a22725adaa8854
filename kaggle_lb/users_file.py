"""The users file of `kaggle-lb users import`: read whole and checked before anything is written.

A UTF-8 CSV, one user per line: a header `username[,kaggle_username]`, then a row per user.
Blank lines (only spaces) are skipped wherever they are; every other problem is reported with
its line number, and any problem rejects the whole file.
"""

import codecs
import csv
import unicodedata
from collections.abc import Callable
from pathlib import Path

COLUMNS = ("username", "kaggle_username")
_UTF16_OR_32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SAVE_AS_UTF8 = "save the file as UTF-8"


class UsersFileError(ValueError):
    """The file cannot be imported; `problems` are one line each, naming the file and the lines."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def username_problem(value: str) -> str | None:
    """Why `value` (already trimmed) cannot be a username, or None."""
    if not value:
        return "no username"
    return _control_problem("username", value)


def kaggle_username_problem(value: str) -> str | None:
    return _control_problem("Kaggle username", value)


def _control_problem(what: str, value: str) -> str | None:
    # A name is shown in terminals and pages; no control character belongs in one.
    if any(unicodedata.category(character) == "Cc" for character in value):
        return f"a control character in the {what}"
    return None


def _lines(numbers: list[int]) -> str:
    """`line 4` or `lines 2-5, 9`: every line, in ranges."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    text = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
    return f"line{'s' if len(numbers) > 1 else ''} {text}"


def _report(path: Path, found: dict[str, list[int]]) -> list[str]:
    """One line per cause, with every line it is on, in the order the causes first appear."""
    return [f"{path}, {_lines(numbers)}: {cause}" for cause, numbers in sorted(found.items(), key=lambda i: i[1][0])]


def _fields(text: str) -> list[str] | str:
    """The line's fields, or why it cannot be read. One line is one record: a user's names never
    hold a line break, so an open quote is this line's problem, not a reason to read on."""
    if text.count('"') % 2:
        return "unbalanced quotes"
    try:
        return [field.strip() for field in next(csv.reader([text], strict=True))]
    except csv.Error as error:
        return f"malformed quoting ({error})"


def read_users_file(path: Path, advance: Callable[[int], None] = lambda rows: None) -> list[tuple[str, str | None]]:
    """The (username, kaggle_username or None) pairs of the file, in its order; raises
    UsersFileError with every problem found. `advance` is told of each line checked."""
    content = path.read_bytes()
    if content.startswith(_UTF16_OR_32_BOMS):
        raise UsersFileError([f"{path}: UTF-16 or UTF-32 text (it starts with that byte-order mark); {_SAVE_AS_UTF8}"])
    content = content.removeprefix(codecs.BOM_UTF8)
    raw_lines = content.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()  # the file's final newline ends its last line
    nul = [number for number, raw in enumerate(raw_lines, 1) if b"\0" in raw]
    if nul:
        # Text in UTF-16 without a byte-order mark reads as UTF-8 with a NUL beside every letter.
        raise UsersFileError([f"{path}, {_lines(nul)}: NUL bytes (UTF-16 text?); {_SAVE_AS_UTF8}"])

    found: dict[str, list[int]] = {}
    header: list[str] | None = None
    seen: dict[str, int] = {}
    users: list[tuple[str, str | None]] = []
    for number, raw in enumerate(raw_lines, 1):
        try:
            text = raw.decode("utf-8").removesuffix("\r")
        except UnicodeDecodeError:
            found.setdefault(f"not UTF-8 text; {_SAVE_AS_UTF8}", []).append(number)
            continue
        if not text.strip():
            continue
        fields = _fields(text)
        if isinstance(fields, str):
            found.setdefault(fields, []).append(number)
        elif header is None:
            header = fields
            problem = _header_problem(header)
            if problem:
                # The rows cannot be read without their header: what is found so far, and this.
                raise UsersFileError(_report(path, found) + [f"{path}, line {number}: {problem}"])
        elif len(fields) != len(header):
            found.setdefault(f"{len(fields)} field(s) where the header has {len(header)}", []).append(number)
        else:
            row = dict(zip(header, fields))
            username, kaggle_username = row["username"], row.get("kaggle_username") or None
            problem = username_problem(username) or (kaggle_username and kaggle_username_problem(kaggle_username))
            if problem:
                found.setdefault(problem, []).append(number)
            elif username in seen:
                found.setdefault(f"username '{username}' is also on line {seen[username]}", []).append(number)
            else:
                seen[username] = number
                users.append((username, kaggle_username))
        advance(1)
    if header is None and not found:
        holds = "empty" if not raw_lines else "only blank lines"
        raise UsersFileError([f"{path}: {holds}; expected a header {','.join(COLUMNS)} and a row per user"])
    if found:
        raise UsersFileError(_report(path, found))
    return users


def _header_problem(header: list[str]) -> str | None:
    unknown = [name for name in header if name not in COLUMNS]
    twice = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if "username" not in header:
        problems.append("the header has no 'username' column")
    if unknown:
        problems.append("unknown column(s) " + ", ".join(f"'{name}'" for name in unknown))
    if twice:
        problems.append("column(s) named twice: " + ", ".join(f"'{name}'" for name in twice))
    if problems:
        return "; ".join(problems) + f" (expected {','.join(COLUMNS)}, kaggle_username optional)"
    return None

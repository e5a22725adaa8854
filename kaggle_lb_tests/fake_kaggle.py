"""A fake Kaggle API, reached by the real `kaggle` client through HTTP_PROXY.

With KAGGLE_API_ENVIRONMENT=LOCALHOST the client POSTs to http://localhost/api/v1/...; pointing
HTTP_PROXY at this server makes it send those requests here with absolute URIs in the request line.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import threading
import zipfile
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

DOWNLOAD_LEADERBOARD_PATH = "/api/v1/competitions.CompetitionApiService/DownloadLeaderboard"
# The leaderboard view: the private board when there is one, unless overridePublic; paginated.
GET_LEADERBOARD_PATH = "/api/v1/competitions.CompetitionApiService/GetLeaderboard"
DEFAULT_PAGE_SIZE = 20
# The kaggle package checks a token here (at import, with KAGGLE_API_TOKEN set).
INTROSPECT_TOKEN_PATH = "/api/v1/security.OAuthService/IntrospectToken"
DEFAULT_EXPORT_TIME = "2026-11-28T10:00:00"

# Network faults a queued response can carry (see queue_response).
STALL_BEFORE_HEADERS = "stall before headers"  # read the request, then send nothing
STALL_MID_BODY = "stall mid-body"  # send the headers and half the body, then nothing
DROP_MID_BODY = "drop mid-body"  # send the headers and half the body, then close the connection
SLOW_DRIP = "slow drip"  # send the headers, then the body one byte every DRIP_INTERVAL seconds
DRIP_INTERVAL = 0.05
# The longest a stalled answer holds its thread; close() releases them all at once.
_MAX_STALL_SECONDS = 30


def leaderboard_zip(csv_bytes: bytes, member_name: str) -> bytes:
    """A ZIP like Kaggle's leaderboard download: one deflated CSV member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member_name, csv_bytes)
    return buffer.getvalue()


def credential_echo(authorization: str | None) -> str:
    """What a careless server quotes of a request's credentials: the Authorization header, the
    credential in it (a token, or user:key decoded from Basic), the key alone, and each in base64."""
    if not authorization:
        return "no credentials"
    scheme, _, credential = authorization.partition(" ")
    forms = [authorization, credential]
    if scheme == "Basic":
        user_and_key = base64.b64decode(credential).decode()
        forms += [user_and_key, user_and_key.partition(":")[2]]
    forms += [base64.b64encode(form.encode()).decode() for form in forms[1:]]
    return " ".join(forms)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # parsed JSON, or None when the body was not JSON
    auth: str | None  # "basic", "bearer", "other" or None; the credential itself is never kept

    @property
    def authorized(self) -> bool:
        return self.auth is not None


# A body given as a function is made from the request's Authorization header (see credential_echo).
Body = bytes | Callable[[str | None], bytes]


@dataclass(frozen=True)
class _Scripted:
    status: int
    body: Body | None
    headers: dict[str, str]
    fault: str | None = None


class FakeKaggleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[RecordedRequest] = []
        self._boards: dict[str, bytes] = {}
        self._views: dict[str, tuple[list[dict], list[dict] | None]] = {}
        self._scripted: dict[tuple[str, str], deque[_Scripted]] = defaultdict(deque)
        self._accepted_authorization: str | None = None
        self._stall_token_checks = False
        self._lock = threading.Lock()
        self._release_stalls = threading.Event()
        self._gathering: threading.Barrier | None = None
        self._joined = 0
        self.downloads_gathered = False
        # A short poll interval keeps shutdown() (once per test) from costing half a second.
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-kaggle", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def set_board(self, slug: str, csv_bytes: bytes, member_name: str | None = None) -> bytes:
        """Serve `slug`'s leaderboard as a ZIP holding csv_bytes; returns the ZIP bytes."""
        member_name = member_name or f"{slug}-publicleaderboard-{DEFAULT_EXPORT_TIME}.csv"
        return self.set_board_zip(slug, leaderboard_zip(csv_bytes, member_name))

    def set_board_zip(self, slug: str, zip_bytes: bytes) -> bytes:
        """Serve arbitrary bytes as `slug`'s leaderboard download (for broken-ZIP tests)."""
        with self._lock:
            self._boards[slug] = zip_bytes
        return zip_bytes

    def set_view(self, slug: str, public: list[dict], private: list[dict] | None = None) -> None:
        """Serve `slug`'s leaderboard view: rows as Kaggle's JSON has them ({"teamId", "teamName",
        "submissionDate", "score"}), in board order; the private rows when given, unless the
        request asks for overridePublic. A slug with a board but no view has an empty view."""
        with self._lock:
            self._views[slug] = (list(public), None if private is None else list(private))

    def queue_response(
        self,
        slug: str,
        status: int,
        body: Body | None = None,
        headers: dict[str, str] | None = None,
        fault: str | None = None,
        path: str = DOWNLOAD_LEADERBOARD_PATH,
    ) -> None:
        """Answer the next request to `path` (the download unless told) for `slug` with this,
        once; queued answers are used in order before falling back to the board. body=None on an
        error status sends Kaggle's JSON error; a function as body is called with the request's
        Authorization header. `fault` (STALL_BEFORE_HEADERS, STALL_MID_BODY, DROP_MID_BODY,
        SLOW_DRIP) breaks the answer on the wire."""
        with self._lock:
            self._scripted[(path, slug)].append(_Scripted(status, body, dict(headers or {}), fault))

    def queue_fault(self, slug: str, fault: str) -> None:
        """Break the next answer for `slug` (a board must be set) on the wire; a body fault cuts its ZIP."""
        with self._lock:
            body = self._boards[slug]
        self.queue_response(slug, 200, body, _zip_headers(slug), fault=fault)

    def accept_credentials(
        self, *, username: str | None = None, key: str | None = None, token: str | None = None
    ) -> None:
        """From now on answer 401 unless the request carries exactly these credentials
        (by default any request is served, whatever its Authorization header)."""
        if token is not None:
            expected = f"Bearer {token}"
        else:
            expected = "Basic " + base64.b64encode(f"{username}:{key}".encode()).decode()
        with self._lock:
            self._accepted_authorization = expected

    def stall_token_checks(self) -> None:
        """From now on read each IntrospectToken request and never answer it."""
        with self._lock:
            self._stall_token_checks = True

    def gather_downloads(self, count: int) -> None:
        """Hold each of the next `count` downloads until all of them have arrived, then answer them
        together: only `count` clients asking at once get an answer before the stall limit.
        downloads_gathered says whether they did."""
        with self._lock:
            self._gathering, self._joined, self.downloads_gathered = threading.Barrier(count), 0, False

    def _wait_for_the_gathering(self, path: str) -> None:
        with self._lock:
            barrier = self._gathering
            if barrier is None or path != DOWNLOAD_LEADERBOARD_PATH:
                return
            self._joined += 1
            if self._joined == barrier.parties:
                self._gathering = None
        try:
            barrier.wait(timeout=_MAX_STALL_SECONDS)
            self.downloads_gathered = True
        except threading.BrokenBarrierError:
            pass

    def handle_error(self, request, client_address) -> None:
        """A client hanging up mid-answer is what the fault tests provoke; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close(self) -> None:
        self._release_stalls.set()
        if self._gathering is not None:
            self._gathering.abort()
        self.shutdown()
        self.server_close()
        self._thread.join()

    def __enter__(self) -> FakeKaggleServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _answer(self, path: str, body: Any, authorization: str | None) -> _Scripted:
        with self._lock:
            if path == INTROSPECT_TOKEN_PATH and self._stall_token_checks:
                return _Scripted(200, b"", {}, STALL_BEFORE_HEADERS)
            if self._accepted_authorization is not None and authorization != self._accepted_authorization:
                return _json_error(401, "Unauthenticated")
            if path not in (DOWNLOAD_LEADERBOARD_PATH, GET_LEADERBOARD_PATH):
                return _json_error(404, f"No such endpoint: {path}")
            slug = body.get("competitionName") if isinstance(body, dict) else None
            if self._scripted.get((path, slug)):
                scripted = self._scripted[(path, slug)].popleft()
                if scripted.body is None and scripted.status >= 400:
                    error = _json_error(scripted.status, HTTPStatus(scripted.status).phrase)
                    return _Scripted(error.status, error.body, {**error.headers, **scripted.headers}, scripted.fault)
                headers = {"Content-Type": "application/octet-stream", **scripted.headers}
                body = scripted.body(authorization) if callable(scripted.body) else scripted.body
                return _Scripted(scripted.status, body or b"", headers, scripted.fault)
            if slug not in self._boards and slug not in self._views:
                return _json_error(404, "Competition not found")
            if path == GET_LEADERBOARD_PATH:
                return self._view_page(slug, body)
            return _Scripted(200, self._boards[slug], _zip_headers(slug))

    def _view_page(self, slug: str, request: dict) -> _Scripted:
        """One page of the view, as Kaggle pages it: pageSize rows from the offset pageToken
        names, and the token of the next page ("" after the last)."""
        public, private = self._views.get(slug, ([], None))
        rows = public if private is None or request.get("overridePublic") else private
        size = int(request.get("pageSize") or DEFAULT_PAGE_SIZE)
        start = int(request.get("pageToken") or 0)
        following = start + size if start + size < len(rows) else None
        payload = {"submissions": rows[start : start + size], "nextPageToken": str(following or "")}
        return _Scripted(200, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _stall(self, seconds: float = _MAX_STALL_SECONDS) -> bool:
        """Wait `seconds`, or less when close() releases the stalls; True once released."""
        return self._release_stalls.wait(seconds)


def _json_error(status: int, message: str) -> _Scripted:
    # Kaggle's API answers errors with the status both on the response and in the JSON body.
    payload = json.dumps({"code": status, "message": message}).encode()
    return _Scripted(status, payload, {"Content-Type": "application/json"})


def _zip_headers(slug: str) -> dict[str, str]:
    # The client's download_file reads Content-Length (and checks the size against it) and parses
    # Last-Modified with "%a, %d %b %Y %H:%M:%S %Z", so both are sent the way Kaggle sends them.
    return {
        "Content-Type": "application/zip",
        "Content-Disposition": f'attachment; filename="{slug}.zip"',
        "Last-Modified": formatdate(usegmt=True),
    }


def _auth_kind(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme = authorization.split(" ", 1)[0].lower()
    return scheme if scheme in ("basic", "bearer") else "other"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeKaggleServer

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        # As a proxy target the request line holds an absolute URI; keep only its path.
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        authorization = self.headers.get("Authorization")
        self.server.requests.append(RecordedRequest(self.command, path, body, _auth_kind(authorization)))
        self.server._wait_for_the_gathering(path)
        answer = self.server._answer(path, body, authorization)
        if answer.fault == STALL_BEFORE_HEADERS:
            self.server._stall()
            self.close_connection = True
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.fault == SLOW_DRIP:
            self.close_connection = True
            for at in range(len(answer.body)):
                if self.server._stall(DRIP_INTERVAL):
                    return
                self.wfile.write(answer.body[at : at + 1])
                self.wfile.flush()
            return
        if answer.fault in (STALL_MID_BODY, DROP_MID_BODY):
            self.wfile.write(answer.body[: len(answer.body) // 2])
            self.wfile.flush()
            if answer.fault == STALL_MID_BODY:
                self.server._stall()
            self.close_connection = True
            return
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: pytest shows failures; request logs would only be noise."""

"""A small Python client for the OpenEM portal's REST API, and the resumable transfers behind
the ``openem`` command-line client.

    from openem.client import Client

    client = Client("https://openem.example.org", token="oem_...")
    for dataset in client.search("apoferritin", technique="spa"):
        print(dataset["pid"], dataset["title"])

Every request is retried with exponential backoff on network errors, 429 (honouring
``Retry-After``) and 502/503/504 (and 500 for reads); what still fails raises an
:class:`OpenEMError` subclass whose ``str()`` is the server's message, meant for a person:
:class:`AuthenticationError` (401), :class:`PermissionDenied` (403), :class:`NotFound`,
:class:`ValidationError` (400, with the server's ``details``), :class:`Conflict`,
:class:`NetworkError`, :class:`ServerError`.

Transfers (:func:`upload_directory`, :func:`download_dataset`) never hold more than one part per
worker in memory, send bytes straight to object storage through presigned URLs, and resume: an
upload asks the server which files and parts it already has, a download continues a ``.part``
file with an HTTP Range request. Progress is reported to a :class:`TransferReporter`.
"""

from __future__ import annotations

import email.utils
import fnmatch
import functools
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

logger = logging.getLogger("openem.client")

__all__ = [
    "AuthenticationError",
    "ChecksumMismatch",
    "Client",
    "Conflict",
    "DownloadReport",
    "NetworkError",
    "NotFound",
    "OpenEMError",
    "PermissionDenied",
    "RetryPolicy",
    "ServerError",
    "TransferError",
    "TransferReporter",
    "TransferStopped",
    "UploadReport",
    "ValidationError",
    "download_dataset",
    "upload_directory",
]

API_PREFIX = "/api/v1/"
DEFAULT_TIMEOUT = (10.0, 300.0)  # connect, read (seconds)
USER_AGENT = "openem-cli/0.1 (+python-requests)"
REGISTER_BATCH = 1000
SIGN_BATCH = 1000
PAGE_SIZE = 1000
HASH_BLOCK = 1024 * 1024
DOWNLOAD_SEGMENT = 64 * 1024 * 1024
STREAM_BLOCK = 1024 * 1024
RETRY_STATUSES = {429, 502, 503, 504}
IDEMPOTENT_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
SETTLED_STATES = {"ready", "failed"}
STORED_STATES = {"stored", "processing", "ready", "failed"}


# --- Errors ---------------------------------------------------------------------------------------


class OpenEMError(Exception):
    """A request that failed, with a message for a person (the server's when it sent one)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details


class AuthError(OpenEMError):
    """Authentication or authorisation failed (401 or 403)."""


class AuthenticationError(AuthError):
    """401: no token, or the token is unknown, revoked or expired."""


class PermissionDenied(AuthError):
    """403: authenticated, but not allowed (a read-only token, not staff of the facility...)."""


class NotFound(OpenEMError):
    """404: no such object, or it is not visible to you."""


class ValidationError(OpenEMError):
    """400/422: the server refused the input; ``details`` says what, often per item."""


class Conflict(OpenEMError):
    """409: the request conflicts with the object's state (published, already uploaded...)."""


class Throttled(OpenEMError):
    """429 still, after waiting as the server asked."""


class ServerError(OpenEMError):
    """5xx still, after the retries."""


class NetworkError(OpenEMError):
    """The server could not be reached (connection refused, DNS, timeouts), after the retries."""


class TransferError(OpenEMError):
    """Bytes could not be sent to or fetched from storage, after the retries."""


class ChecksumMismatch(OpenEMError):
    """A downloaded file's SHA-256 differs from the manifest's."""


class TransferStopped(OpenEMError):
    """The transfer was stopped on purpose (``stop_after_parts``, or an interruption)."""


_STATUS_ERRORS: dict[int, type[OpenEMError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: Throttled,
}


def error_from_response(response: requests.Response) -> OpenEMError:
    """The exception for an error response, carrying the server's ``{"error": {...}}``."""
    code = None
    details = None
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code")
        message = str(error.get("message") or "")
        details = error.get("details")
    if not message:
        reason = response.reason or "error"
        message = f"the server answered {response.status_code} {reason} for {_short(response.url)}"
    kind = _STATUS_ERRORS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else OpenEMError
    return kind(message, status=response.status_code, code=code, details=details)


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- Retries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``backoff * 2**(attempt-1)``, at most ``max_delay``."""

    attempts: int = 5
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            wait_for = _retry_after_seconds(retry_after)
            if wait_for is not None:
                return min(wait_for, self.max_delay * 4)
        base = min(self.max_delay, self.backoff * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _tried(attempts: int) -> str:
    return {1: "tried once", 2: "tried twice"}.get(attempts, f"tried {attempts} times")


_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _network_reason(exc: Exception) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off during the transfer"
    text = str(exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "the connection was refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name is not known"
    return "the connection failed"


# --- The API client -------------------------------------------------------------------------------


class Client:
    """The portal's REST API. Thread-safe: each thread gets its own HTTP session."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ):
        server = server.strip()
        if not server:
            raise OpenEMError("no server given: pass --server, set OPENEM_URL or run openem login")
        if "://" not in server:
            server = "https://" + server
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise OpenEMError(f"the server address {server!r} is not an http(s) URL")
        self.server = server.rstrip("/")
        self.api_root = self.server + API_PREFIX
        self.token = token or None
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    def close(self) -> None:
        """Close the HTTP connections of every thread's session."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- HTTP ------------------------------------------------------------------------------------

    def _session(self, *, authenticated: bool) -> requests.Session:
        name = "api" if authenticated else "data"
        session: requests.Session | None = getattr(self._local, name, None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            if authenticated and self.token:
                session.headers["Authorization"] = f"Token {self.token}"
            setattr(self._local, name, session)
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.api_root, path.lstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        *,
        authenticated: bool = True,
        ok: Iterable[int] = (),
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request with retries; raise the matching :class:`OpenEMError` for an error.

        ``ok`` lists statuses >= 400 that the caller handles itself (e.g. 416 for a download).
        ``authenticated=False`` sends no token: for presigned storage URLs.
        """
        url = self.url(path)
        kwargs.setdefault("timeout", self.timeout)
        session = self._session(authenticated=authenticated)
        retriable = set(RETRY_STATUSES)
        if method.upper() in IDEMPOTENT_METHODS:
            retriable.add(500)
        allowed = set(ok)
        attempts = self.retry.attempts
        for attempt in range(1, attempts + 1):
            try:
                response = session.request(method, url, **kwargs)
            except _NETWORK_ERRORS as exc:
                if attempt == attempts:
                    raise NetworkError(
                        f"could not reach {_short(url)}: {_network_reason(exc)} "
                        f"({_tried(attempts)})"
                    ) from exc
                delay = self.retry.delay(attempt)
                logger.info("%s %s: %s; retry in %.1fs", method, url, exc, delay)
                self._sleep(delay)
                continue
            status = response.status_code
            if status in retriable and status not in allowed and attempt < attempts:
                delay = self.retry.delay(attempt, response.headers.get("Retry-After"))
                logger.info("%s %s: %s; retry in %.1fs", method, url, response.status_code, delay)
                response.close()
                self._sleep(delay)
                continue
            if response.status_code >= 400 and response.status_code not in allowed:
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable")

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs).json()

    def post_json(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self.request("POST", path, json=body, **kwargs)
        return response.json() if response.content else None

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a paginated listing (page numbers or cursors: follows ``next``)."""
        url: str | None = self.url(path)
        query = dict(params or {})
        while url:
            page = self.get_json(url, params=query)
            yield from page.get("results", [])
            url = page.get("next")
            query = {}  # ``next`` carries the query

    # -- Datasets and files -----------------------------------------------------------------------

    def whoami_check(self) -> None:
        """Raise :class:`AuthenticationError` unless the token is accepted."""
        self.get_json("tokens/", params={"page_size": 1})

    def search(
        self, query: str = "", *, limit: int | None = None, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        params = {"q": query, **{k: v for k, v in filters.items() if v not in (None, "")}}
        params["page_size"] = min(200, limit) if limit else 50
        for count, dataset in enumerate(self.paginate("datasets/", params), start=1):
            yield dataset
            if limit and count >= limit:
                return

    def dataset(self, pid: str) -> dict[str, Any]:
        return dict(self.get_json(f"datasets/{_segment(pid)}/"))

    def create_dataset(self, **fields: Any) -> dict[str, Any]:
        body = {k: v for k, v in fields.items() if v not in (None, "", [])}
        return dict(self.post_json("datasets/", body))

    def files(
        self, pid: str, *, prefix: str = "", state: str = "", file_format: str = ""
    ) -> Iterator[dict[str, Any]]:
        params = {"page_size": PAGE_SIZE, "prefix": prefix, "state": state, "format": file_format}
        yield from self.paginate(
            f"datasets/{_segment(pid)}/files/", {k: v for k, v in params.items() if v}
        )

    def manifest(self, pid: str, *, manifest_format: str = "sha256sum", prefix: str = "") -> str:
        params = {"format": manifest_format, **({"prefix": prefix} if prefix else {})}
        return self.request("GET", f"datasets/{_segment(pid)}/manifest", params=params).text

    def manifest_entries(self, pid: str, *, prefix: str = "") -> dict[str, dict[str, Any]]:
        """path -> {path, size, sha256[, md5]} of the files whose checksum is known."""
        entries = json.loads(self.manifest(pid, manifest_format="json", prefix=prefix))
        return {entry["path"]: entry for entry in entries}

    def download_location(self, pid: str, file_id: int) -> tuple[str, bool]:
        """Where a file's bytes are: (a presigned storage URL, False) on S3, or (the API's own
        download URL, True: send the token) on local storage."""
        url = self.url(f"datasets/{_segment(pid)}/files/{int(file_id)}/download")
        response = self.request(
            "GET",
            url,
            allow_redirects=False,
            stream=True,
            headers={"Range": "bytes=0-0", "Accept-Encoding": "identity"},
            ok=(416,),
        )
        response.close()
        if response.is_redirect and response.headers.get("Location"):
            return urljoin(url, response.headers["Location"]), False
        return url, True

    # -- Upload sessions --------------------------------------------------------------------------

    def upload_sessions(self, *, dataset: str = "", state: str = "") -> list[dict[str, Any]]:
        params = {k: v for k, v in {"dataset": dataset, "state": state}.items() if v}
        return list(self.paginate("uploads/", params))

    def open_upload_session(self, pid: str) -> dict[str, Any] | None:
        """The newest open upload session of dataset ``pid``, if there is one."""
        params = {"dataset": pid, "state": "open", "page_size": 1}
        results = self.get_json("uploads/", params=params)["results"]
        return dict(results[0]) if results else None

    def create_upload_session(self, pid: str) -> dict[str, Any]:
        return dict(self.post_json("uploads/", {"dataset": pid}))

    def upload_session(self, session_id: int) -> dict[str, Any]:
        return dict(self.get_json(f"uploads/{int(session_id)}/"))

    def register_files(self, session_id: int, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = self.post_json(f"uploads/{int(session_id)}/files/", {"files": files})
        return list(body["files"])

    def session_files(self, session_id: int, *, state: str = "") -> Iterator[dict[str, Any]]:
        params = {"page_size": PAGE_SIZE, **({"state": state} if state else {})}
        yield from self.paginate(f"uploads/{int(session_id)}/files/", params)

    def complete_upload_session(self, session_id: int) -> dict[str, Any]:
        return dict(self.post_json(f"uploads/{int(session_id)}/complete"))

    def upload_status(self, session_id: int) -> dict[str, Any]:
        return dict(self.get_json(f"uploads/{int(session_id)}/status"))

    def multipart_start(self, multipart_url: str, *, sign_parts: int = 0) -> dict[str, Any]:
        """Start (or resume) a file's multipart upload; ``sign_parts`` presigns parts 1..N too."""
        body = {"sign_parts": min(sign_parts, SIGN_BATCH)} if sign_parts else None
        return dict(self.post_json(multipart_url, body))

    def multipart_sign(self, parts_url: str, upload_id: str, numbers: list[int]) -> dict[int, str]:
        signed: dict[int, str] = {}
        for start in range(0, len(numbers), SIGN_BATCH):
            batch = numbers[start : start + SIGN_BATCH]
            body = self.post_json(parts_url, {"upload_id": upload_id, "part_numbers": batch})
            signed.update({int(p["part_number"]): str(p["url"]) for p in body["parts"]})
        return signed

    def multipart_parts(self, parts_url: str, upload_id: str) -> list[dict[str, Any]]:
        return list(self.get_json(parts_url, params={"upload_id": upload_id})["parts"])

    def multipart_complete(
        self, complete_url: str, upload_id: str, parts: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"upload_id": upload_id}
        if parts:
            body["parts"] = parts
        return dict(self.post_json(complete_url, body))

    def content_offset(self, content_url: str) -> dict[str, Any]:
        return dict(self.get_json(content_url))

    def send_chunk(self, content_url: str, data: bytes, offset: int, size: int) -> dict[str, Any]:
        headers = {"Content-Type": "application/octet-stream"}
        if data:
            headers["Content-Range"] = f"bytes {offset}-{offset + len(data) - 1}/{size}"
            return dict(self.request("PUT", content_url, data=data, headers=headers).json())
        response = self.request(
            "PUT", content_url, data=b"", headers=headers, params={"offset": offset}
        )
        return dict(response.json())


def _segment(value: str) -> str:
    """A value for one URL path segment (PIDs never hold slashes; refuse anything that would)."""
    text = str(value).strip()
    if not text or "/" in text or text in {".", ".."} or "?" in text or "#" in text:
        raise OpenEMError(f"{value!r} is not a dataset identifier")
    return text


# --- Progress reporting ---------------------------------------------------------------------------


class TransferReporter:
    """Receives progress; the CLI draws progress bars from it. Methods may be called from any
    thread; the default does nothing."""

    def stage(self, name: str, total: int, unit: str = "B", files: int = 0) -> None:
        """A new phase starts (``checksum``, ``upload``, ``download``, ``ingest``...) with
        ``total`` units to go, over ``files`` files."""

    def advance(self, amount: int) -> None:
        """``amount`` more units of the current phase are done."""

    def file_done(self, path: str) -> None:
        """One file of the current phase is finished."""

    def note(self, message: str) -> None:
        """Something a person should know (a resumed file, a retry...)."""

    def close(self) -> None:
        """The phase is over."""


# --- Files on disk --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFile:
    path: str  # relative, POSIX
    source: Path
    size: int


def scan_directory(root: Path, *, exclude: Iterable[str] = ()) -> list[LocalFile]:
    """The regular files under ``root`` (symlinks to files followed), sorted by path."""
    patterns = list(exclude)
    found: list[LocalFile] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        for name in sorted(names):
            source = Path(directory) / name
            relative = source.relative_to(root).as_posix()
            if any(fnmatch.fnmatchcase(relative, pattern) for pattern in patterns):
                continue
            try:
                stat = source.stat()
            except OSError:
                continue  # a broken symlink
            if not source.is_file():
                continue
            found.append(LocalFile(path=relative, source=source, size=stat.st_size))
    found.sort(key=lambda f: f.path)
    return found


def file_sha256(
    path: Path,
    *,
    on_bytes: Callable[[int], None] | None = None,
    stop: threading.Event | None = None,
) -> str:
    """The file's SHA-256, read into one reused buffer (small enough to stay in the CPU cache;
    a fresh block per read costs a page fault per 4 KiB). ``stop`` set: TransferStopped."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            if on_bytes:
                on_bytes(count)
            if stop is not None and stop.is_set():
                raise TransferStopped(f"stopped while checksumming {path}")
    return digest.hexdigest()


def _read_into(fd: int, view: memoryview, offset: int) -> int:
    """Fill ``view`` from ``fd`` at ``offset``; the number of bytes read (less only at the end)."""
    done = 0
    while done < len(view):
        count = os.preadv(fd, [view[done:]], offset + done)
        if not count:
            break
        done += count
    return done


# --- Upload ---------------------------------------------------------------------------------------


@dataclass
class UploadReport:
    dataset: str
    session: int
    storage: str = ""
    files_local: int = 0
    bytes_local: int = 0
    files_registered: int = 0
    files_uploaded: int = 0
    bytes_uploaded: int = 0
    files_skipped: int = 0  # already stored on the server
    parts_sent: int = 0
    parts_skipped: int = 0  # already on the server (resumed)
    chunks_sent: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    session_completed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Counter:
    def __init__(self, limit: int | None):
        self._lock = threading.Lock()
        self.limit = limit
        self.stop = threading.Event()

    def count_part(self, report: UploadReport) -> None:
        with self._lock:
            report.parts_sent += 1
            if self.limit is not None and report.parts_sent >= self.limit:
                self.stop.set()


class _Uploader:
    def __init__(
        self,
        client: Client,
        report: UploadReport,
        reporter: TransferReporter,
        *,
        parallel: int,
        stop_after_parts: int | None,
    ):
        self.client = client
        self.report = report
        self.reporter = reporter
        self.parallel = max(1, parallel)
        self.counter = _Counter(stop_after_parts)
        self.lock = threading.Lock()
        self.part_pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="openem-part")
        self._buffers = threading.local()

    def _part_buffer(self, length: int) -> memoryview:
        """This thread's part buffer, reused from part to part: one part's memory per worker,
        and no fresh pages to fault in (and zero) for every part."""
        buffer: bytearray | None = getattr(self._buffers, "buffer", None)
        if buffer is None or len(buffer) < length:
            buffer = self._buffers.buffer = bytearray(length)
        return memoryview(buffer)[:length]

    # -- one part to S3 ---------------------------------------------------------------------------

    def _put_part(self, url: str, data: bytes | memoryview, resign: Callable[[], str]) -> str:
        policy = self.client.retry
        resigned = False
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self.client._session(authenticated=False).put(
                    url, data=data, timeout=self.client.timeout
                )
            except _NETWORK_ERRORS as exc:
                if attempt == policy.attempts:
                    raise TransferError(
                        f"could not send a part to storage: {_network_reason(exc)} "
                        f"({_tried(attempt)})"
                    ) from exc
                self.client._sleep(policy.delay(attempt))
                continue
            if response.ok and response.headers.get("ETag"):
                return str(response.headers["ETag"])
            if response.status_code == 403 and not resigned:
                url, resigned = resign(), True  # the presigned URL may have expired
                continue
            retriable = response.status_code in RETRY_STATUSES or response.status_code >= 500
            if not retriable or attempt == policy.attempts:
                raise TransferError(
                    f"storage refused a part: {response.status_code} {response.reason} "
                    f"{response.text[:200]}",
                    status=response.status_code,
                )
            self.client._sleep(policy.delay(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    def _send_part(
        self, fd: int, offset: int, length: int, url: str, resign: Callable[[], str]
    ) -> str:
        if self.counter.stop.is_set():
            raise TransferStopped("stopped before sending the part")
        data = self._part_buffer(length)
        if _read_into(fd, data, offset) != length:
            raise TransferError(f"the file shrank while it was uploaded (at byte {offset})")
        etag = self._put_part(url, data if length else b"", resign)
        self.counter.count_part(self.report)
        self.reporter.advance(length)
        with self.lock:
            self.report.bytes_uploaded += length
        return etag

    # -- one file ---------------------------------------------------------------------------------

    def upload_file(self, local: LocalFile, remote: dict[str, Any], fresh: bool) -> None:
        if self.counter.stop.is_set():
            raise TransferStopped("stopped")
        upload = remote.get("upload")
        if not upload:
            return
        if upload["method"] == "multipart":
            self._multipart(local, remote, upload, fresh)
        else:
            self._chunks(local, upload, fresh)
        with self.lock:
            self.report.files_uploaded += 1
        self.reporter.file_done(local.path)

    def _multipart(
        self, local: LocalFile, remote: dict[str, Any], upload: dict[str, Any], fresh: bool
    ) -> None:
        # A fresh file gets its first part URLs with the start: one request fewer per file.
        started = self.client.multipart_start(
            upload["url"], sign_parts=int(upload["part_count"]) if fresh else 0
        )
        upload_id = started["upload_id"]
        part_size = int(started["part_size"])
        part_count = int(started["part_count"])
        sizes = {
            n: min(part_size, local.size - (n - 1) * part_size) for n in range(1, part_count + 1)
        }
        sizes = {n: max(0, s) for n, s in sizes.items()}
        done: dict[int, str] = {}
        if not fresh:
            for part in self.client.multipart_parts(started["parts_url"], upload_id):
                number = int(part["part_number"])
                if sizes.get(number) == int(part["size"]):
                    done[number] = str(part["etag"])
            if done:
                skipped = sum(sizes[n] for n in done)
                self.reporter.advance(skipped)
                self.reporter.note(
                    f"{local.path}: resuming, {len(done)} of {part_count} parts there"
                )
                with self.lock:
                    self.report.parts_skipped += len(done)
        missing = [n for n in range(1, part_count + 1) if n not in done]
        if missing:
            urls = {int(p["part_number"]): str(p["url"]) for p in started.get("parts") or []}
            unsigned = [n for n in missing if n not in urls]
            if unsigned:
                urls.update(self.client.multipart_sign(started["parts_url"], upload_id, unsigned))
            fd = os.open(local.source, os.O_RDONLY)
            try:
                futures: dict[Future[str], int] = {}
                for number in missing:

                    def resign(number: int = number) -> str:
                        signed = self.client.multipart_sign(
                            started["parts_url"], upload_id, [number]
                        )
                        return signed[number]

                    future = self.part_pool.submit(
                        self._send_part,
                        fd,
                        (number - 1) * part_size,
                        sizes[number],
                        urls[number],
                        resign,
                    )
                    futures[future] = number
                finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in finished if f.exception() is not None]
                if failed:
                    for future in futures:
                        future.cancel()
                    wait(futures)
                    raise failed[0].exception()  # type: ignore[misc]
                done.update({futures[f]: f.result() for f in futures})
            finally:
                os.close(fd)
        if self.counter.stop.is_set() and missing:
            # Parts in flight when the limit was reached were sent; the file is completed on
            # the next run, like a real interruption between the last part and the completion.
            raise TransferStopped("stopped after the part limit")
        parts = [{"part_number": n, "etag": done[n]} for n in sorted(done)]
        self.client.multipart_complete(started["complete_url"], upload_id, parts)

    def _chunks(self, local: LocalFile, upload: dict[str, Any], fresh: bool) -> None:
        url = upload["url"]
        chunk_size = int(upload["part_size"])
        # A fresh file starts at 0; if not (another client), the server says where, below.
        offset = 0 if fresh else int(self.client.content_offset(url)["offset"])
        if offset:
            self.reporter.advance(offset)
            self.reporter.note(f"{local.path}: resuming at byte {offset:,}")
            with self.lock:
                self.report.parts_skipped += offset // chunk_size
        with open(local.source, "rb") as handle:
            while True:
                if self.counter.stop.is_set():
                    raise TransferStopped("stopped after the part limit")
                handle.seek(offset)
                data = handle.read(min(chunk_size, local.size - offset))
                try:
                    answer = self.client.send_chunk(url, data, offset, local.size)
                except Conflict as exc:
                    expected = (
                        (exc.details or {}).get("offset") if isinstance(exc.details, dict) else None
                    )
                    if expected is None:
                        raise
                    offset = int(expected)  # someone (a previous run) got further: go on there
                    continue
                offset = int(answer["offset"])
                self.counter.count_part(self.report)
                with self.lock:
                    self.report.chunks_sent += 1
                    self.report.bytes_uploaded += len(data)
                self.reporter.advance(len(data))
                if answer.get("complete") or offset >= local.size:
                    return


def _remote_state(
    client: Client, pid: str, session_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    in_dataset = {f["path"]: f for f in client.files(pid)}
    in_session = {f["path"]: f for f in client.session_files(session_id, state="registered")}
    return in_dataset, in_session


class _Checksums:
    """SHA-256s of the files to register, computed by background threads in file order, so
    that uploading the first batch of files overlaps hashing the next ones.

    Hashing may start before the server has said which files it needs (:meth:`start`): the
    first files are hashed while the session and listing requests run, and a file that turns
    out not to be needed is stopped (:meth:`keep`). Bytes hashed are reported only while the
    ``checksum`` stage is open: once uploading starts, the upload's bar is the one to watch."""

    def __init__(self, reporter: TransferReporter, parallel: int):
        self.reporter = reporter
        # hashlib releases the GIL: one thread per core.
        self.workers = max(1, min(parallel, os.cpu_count() or 1))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="openem-hash")
        self.futures: dict[str, Future[str]] = {}
        self.stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._hashed: dict[str, int] = {}
        self._reporting = False

    def start(self, files: Iterable[LocalFile]) -> None:
        for local in files:
            if local.path in self.futures:
                continue
            stop = self.stops[local.path] = threading.Event()

            def progress(amount: int, path: str = local.path) -> None:
                with self._lock:
                    self._hashed[path] = self._hashed.get(path, 0) + amount
                    if not self._reporting:
                        return
                self.reporter.advance(amount)

            self.futures[local.path] = self.pool.submit(
                file_sha256, local.source, on_bytes=progress, stop=stop
            )

    def keep(self, files: list[LocalFile]) -> None:
        """Only ``files`` are needed (hashing starts for those not started): stop the others."""
        wanted = {local.path for local in files}
        for path, future in self.futures.items():
            if path not in wanted:
                self.stops[path].set()
                future.cancel()
        self.start(files)

    def open_stage(self, files: list[LocalFile]) -> None:
        """The ``checksum`` stage's bar, counting what was hashed before it opened."""
        self.reporter.stage("checksum", sum(f.size for f in files), files=len(files))
        with self._lock:
            self._reporting = True
            done = sum(self._hashed.get(f.path, 0) for f in files)
        self.reporter.advance(done)

    def close_stage(self) -> None:
        with self._lock:
            self._reporting = False

    def digest(self, local: LocalFile) -> str:
        return self.futures[local.path].result()

    def shutdown(self) -> None:
        for stop in self.stops.values():
            stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


def upload_directory(
    client: Client,
    root: Path,
    *,
    pid: str,
    reporter: TransferReporter | None = None,
    parallel: int = 8,
    checksum: bool = True,
    exclude: Iterable[str] = (),
    stop_after_parts: int | None = None,
    complete: bool = True,
) -> UploadReport:
    """Upload the files under ``root`` into dataset ``pid``, resuming what an earlier run began.

    Uses the dataset's open upload session (or opens one); files already stored are skipped,
    files registered earlier continue where they stopped (S3 parts listed, local offset asked),
    new files are checksummed (SHA-256, verified again by ingest) and registered 1,000 at a
    time, each batch once its checksums are in, while the batches before it upload.
    ``complete`` closes the session once every file is up. Problems with single files (a
    different size on the server...) are collected in the report, not raised.
    """
    reporter = reporter or TransferReporter()
    root = Path(root)
    if not root.is_dir():
        raise OpenEMError(f"{root} is not a folder")
    local_files = scan_directory(root, exclude=exclude)
    checksums = _Checksums(reporter, parallel) if checksum else None
    try:
        if checksums:
            # The first files are most likely new: hash them while the server is asked.
            checksums.start(local_files[: checksums.workers])
        return _upload(
            client, pid, local_files, checksums, reporter, parallel, stop_after_parts, complete
        )
    finally:
        if checksums:
            checksums.shutdown()


def _upload(
    client: Client,
    pid: str,
    local_files: list[LocalFile],
    checksums: _Checksums | None,
    reporter: TransferReporter,
    parallel: int,
    stop_after_parts: int | None,
    complete: bool,
) -> UploadReport:
    session = client.open_upload_session(pid) or client.create_upload_session(pid)
    report = UploadReport(dataset=pid, session=int(session["id"]), storage=session["storage"])
    report.files_local = len(local_files)
    report.bytes_local = sum(f.size for f in local_files)
    in_dataset, in_session = _remote_state(client, pid, report.session)

    to_resume: list[tuple[LocalFile, dict[str, Any]]] = []
    to_register: list[LocalFile] = []
    for local in local_files:
        remote = in_dataset.get(local.path)
        if remote is None:
            to_register.append(local)
        elif int(remote["size"]) != local.size:
            report.problems.append(
                {
                    "path": local.path,
                    "message": f"already in the dataset with {int(remote['size']):,} bytes, "
                    f"here {local.size:,} bytes",
                }
            )
        elif remote["state"] in STORED_STATES:
            report.files_skipped += 1
        elif local.path in in_session:
            to_resume.append((local, in_session[local.path]))
        else:
            report.problems.append(
                {
                    "path": local.path,
                    "message": "registered in another upload session that is closed or not "
                    "yours; it cannot be sent from here",
                }
            )
    if checksums:
        checksums.keep(to_register)

    uploader = _Uploader(
        client, report, reporter, parallel=parallel, stop_after_parts=stop_after_parts
    )
    file_pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="openem-file")
    pending: dict[Future[None], LocalFile] = {}
    upload_bytes = sum(f.size for f, _ in to_resume) + sum(f.size for f in to_register)
    uploading = False

    def submit(local: LocalFile, remote: dict[str, Any], fresh: bool) -> None:
        nonlocal uploading
        if not uploading:
            uploading = True
            if checksums:
                checksums.close_stage()
            reporter.stage("upload", upload_bytes, files=len(to_resume) + len(to_register))
        pending[file_pool.submit(uploader.upload_file, local, remote, fresh)] = local

    try:
        if checksums and to_register and not to_resume:
            checksums.open_stage(to_register)
        for local, remote in to_resume:
            submit(local, remote, False)
        # A batch is registered (all or nothing: every refused path is listed at once) when its
        # checksums are in, and uploads while the next batches are hashed.
        for start in range(0, len(to_register), REGISTER_BATCH):
            if uploader.counter.stop.is_set():
                break
            batch = to_register[start : start + REGISTER_BATCH]
            entries = [
                {"path": f.path, "size": f.size}
                | ({"sha256": checksums.digest(f)} if checksums else {})
                for f in batch
            ]
            registered = client.register_files(report.session, entries)
            report.files_registered += len(registered)
            for local, remote in zip(batch, registered, strict=True):
                submit(local, remote, True)
        if not uploading:
            reporter.stage("upload", 0)
        stopped = False
        for future in list(pending):
            try:
                future.result()
            except TransferStopped:
                stopped = True
            except OpenEMError as exc:
                if isinstance(exc, AuthError | NetworkError):
                    raise
                report.problems.append({"path": pending[future].path, "message": exc.message})
        if stopped or uploader.counter.stop.is_set():
            raise TransferStopped(
                f"stopped after {report.parts_sent} parts, as asked; run the same command "
                "again to resume"
            )
    finally:
        reporter.close()
        uploader.counter.stop.set()
        file_pool.shutdown(wait=True, cancel_futures=True)
        uploader.part_pool.shutdown(wait=True, cancel_futures=True)
    if complete and not report.problems:
        client.complete_upload_session(report.session)
        report.session_completed = True
    return report


def wait_for_ingest(
    client: Client,
    session_id: int,
    *,
    reporter: TransferReporter | None = None,
    interval: float = 2.0,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Poll the session's ingest status until every file is ready or failed."""
    reporter = reporter or TransferReporter()
    status = client.upload_status(session_id)
    reporter.stage("ingest", int(status["files_total"]), unit="file")
    seen = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            settled = int(status["files_done"]) + int(status["files_failed"])
            if settled > seen:
                reporter.advance(settled - seen)
                seen = settled
            if status["settled"]:
                return status
            if deadline is not None and time.monotonic() > deadline:
                return status
            client._sleep(interval)
            status = client.upload_status(session_id)
    finally:
        reporter.close()


# --- Download -------------------------------------------------------------------------------------


@dataclass
class DownloadReport:
    dataset: str
    destination: str
    files: int = 0
    bytes: int = 0
    downloaded_files: int = 0
    downloaded_bytes: int = 0
    skipped_files: int = 0  # already there, checksum verified
    resumed_files: int = 0
    verified_files: int = 0
    unverified: list[str] = field(default_factory=list)  # no checksum known yet
    mismatches: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ok": self.ok}


def _safe_target(root: Path, path: str) -> Path:
    """``root/path`` for a server path, refusing anything that would land outside ``root``."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise OpenEMError(f"the server sent an unsafe path {path!r}")
    target = root.joinpath(*pure.parts)
    return target


def _matches(path: str, include: list[str]) -> bool:
    return not include or any(fnmatch.fnmatchcase(path, pattern) for pattern in include)


def _literal_prefix(include: list[str]) -> str:
    """A path prefix every pattern starts with (narrows the server's listing), or ''."""
    if len(include) != 1:
        return ""
    pattern = include[0]
    cut = min((pattern.find(c) for c in "*?[" if c in pattern), default=len(pattern))
    prefix = pattern[:cut]
    return prefix[: prefix.rfind("/") + 1]


class _Location:
    """Where one file's bytes are fetched from, asked of the portal once and again only when a
    presigned URL has expired."""

    def __init__(self, client: Client, pid: str, file_id: int):
        self.client = client
        self.pid = pid
        self.file_id = file_id
        self._lock = threading.Lock()
        self._where: tuple[str, bool] | None = None

    def current(self) -> tuple[str, bool]:
        with self._lock:
            if self._where is None:
                self._where = self.client.download_location(self.pid, self.file_id)
            return self._where

    def refresh(self) -> None:
        with self._lock:
            self._where = None


class _Downloader:
    def __init__(
        self,
        client: Client,
        pid: str,
        report: DownloadReport,
        reporter: TransferReporter,
        *,
        parallel: int,
        segment_size: int,
    ):
        self.client = client
        self.pid = pid
        self.report = report
        self.reporter = reporter
        self.segment_size = segment_size
        self.pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="openem-get")
        self.lock = threading.Lock()

    def _get(self, location: _Location, start: int, end: int | None) -> requests.Response:
        byte_range = f"bytes={start}-" + ("" if end is None else str(end))
        for refreshed in (False, True):
            url, authenticated = location.current()
            try:
                return self.client.request(
                    "GET",
                    url,
                    authenticated=authenticated,
                    stream=True,
                    headers={"Range": byte_range, "Accept-Encoding": "identity"},
                )
            except (PermissionDenied, AuthenticationError):
                if authenticated or refreshed:
                    raise
                location.refresh()  # a presigned URL that expired: ask the portal again
        raise AssertionError("unreachable")

    def _fetch(
        self, location: _Location, start: int, end: int, write: Callable[[bytes], None]
    ) -> None:
        """Bytes ``start..end`` (inclusive) to ``write``, in order, resuming broken transfers
        with a new Range request from where the last one stopped."""
        position = start
        failures = 0
        while position <= end:
            before = position
            try:
                response = self._get(location, position, end)
                with response:
                    if response.status_code != 206 and not (
                        response.status_code == 200 and position == 0
                    ):
                        raise TransferError(
                            f"the server ignored a Range request ({response.status_code})"
                        )
                    for block in response.iter_content(STREAM_BLOCK):
                        block = block[: end - position + 1]
                        write(block)
                        position += len(block)
                        self.reporter.advance(len(block))
                        with self.lock:
                            self.report.downloaded_bytes += len(block)
                        if position > end:
                            break
            except _NETWORK_ERRORS:
                pass
            if position == before:
                failures += 1
                if failures >= self.client.retry.attempts:
                    raise TransferError(
                        f"the download stopped at byte {position:,} and could not go on "
                        f"({_tried(failures)})"
                    )
                self.client._sleep(self.client.retry.delay(failures))
            else:
                failures = 0

    def file(self, remote: dict[str, Any], target: Path, expected: str | None) -> None:
        size = int(remote["size"])
        path = remote["path"]
        partial = target.with_name(target.name + ".part")
        segments_record = target.with_name(target.name + ".part.segments")
        target.parent.mkdir(parents=True, exist_ok=True)
        start = partial.stat().st_size if partial.exists() else 0
        if start > size:
            partial.unlink()
            segments_record.unlink(missing_ok=True)
            start = 0
        if start:
            with self.lock:
                self.report.resumed_files += 1
            self.reporter.note(f"{path}: resuming at byte {start:,}")
        location = _Location(self.client, self.pid, int(remote["id"]))
        if size > 2 * self.segment_size:
            self._segmented(location, partial, segments_record, size, start)
            actual = file_sha256(partial)
        else:
            digest = hashlib.sha256()
            if start:
                with open(partial, "rb") as existing:
                    while block := existing.read(HASH_BLOCK):
                        digest.update(block)
                self.reporter.advance(start)
            with open(partial, "ab") as handle:

                def write(block: bytes) -> None:
                    handle.write(block)
                    digest.update(block)

                if start < size:
                    self._fetch(location, start, size - 1, write)
            actual = digest.hexdigest()
        if expected and actual != expected:
            partial.unlink(missing_ok=True)
            segments_record.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{path}: SHA-256 mismatch: the manifest says {expected}, the download has "
                f"{actual}; the bad copy was removed, run the command again to fetch it anew"
            )
        os.replace(partial, target)
        segments_record.unlink(missing_ok=True)
        with self.lock:
            self.report.downloaded_files += 1
            if expected:
                self.report.verified_files += 1
            else:
                self.report.unverified.append(path)
        self.reporter.file_done(path)

    def _segmented(
        self, location: _Location, partial: Path, record: Path, size: int, start: int
    ) -> None:
        """Parallel ranged GETs into ``partial``; finished segments are listed in ``record``
        so that a resumed download fetches only the others."""
        count = -(-size // self.segment_size)
        if record.exists():
            done = {int(line) for line in record.read_text().split() if line.isdigit()}
        else:  # a sequential .part: its whole segments are there
            done = set(range(min(count, start // self.segment_size)))
        skipped = sum(min(self.segment_size, size - i * self.segment_size) for i in done)
        if skipped:
            self.reporter.advance(skipped)
        record_lock = threading.Lock()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            with open(record, "a") as record_file:

                def fetch(index: int) -> None:
                    first = index * self.segment_size
                    last = min(size, first + self.segment_size) - 1
                    position = [first]

                    def write(block: bytes) -> None:
                        os.pwrite(fd, block, position[0])
                        position[0] += len(block)

                    self._fetch(location, first, last, write)
                    with record_lock:
                        record_file.write(f"{index}\n")
                        record_file.flush()

                futures = [
                    self.pool.submit(fetch, index) for index in range(count) if index not in done
                ]
                for future in futures:
                    future.result()
            os.ftruncate(fd, size)
        finally:
            os.close(fd)


def download_dataset(
    client: Client,
    pid: str,
    destination: Path,
    *,
    include: Iterable[str] = (),
    reporter: TransferReporter | None = None,
    parallel: int = 8,
    segment_size: int = DOWNLOAD_SEGMENT,
) -> DownloadReport:
    """Download the files of ``pid`` (those matching ``include`` globs) into ``destination``.

    Files already there with the manifest's checksum are skipped; ``<name>.part`` files are
    continued with Range requests; big files come in parallel ranges. Every file is checked
    against the manifest's SHA-256; mismatches and failures are collected in the report.
    """
    reporter = reporter or TransferReporter()
    patterns = list(include)
    destination = Path(destination)
    prefix = _literal_prefix(patterns)
    manifest = client.manifest_entries(pid, prefix=prefix)
    wanted = [
        f
        for f in client.files(pid, prefix=prefix)
        if _matches(f["path"], patterns) and f["state"] in STORED_STATES
    ]
    report = DownloadReport(dataset=pid, destination=str(destination))
    report.files = len(wanted)
    report.bytes = sum(int(f["size"]) for f in wanted)
    destination.mkdir(parents=True, exist_ok=True)

    todo: list[tuple[dict[str, Any], Path, str | None]] = []
    check_bytes = 0
    existing: list[tuple[dict[str, Any], Path, str | None]] = []
    for remote in wanted:
        target = _safe_target(destination, remote["path"])
        expected = (manifest.get(remote["path"]) or {}).get("sha256") or None
        if target.is_file() and target.stat().st_size == int(remote["size"]) and expected:
            existing.append((remote, target, expected))
            check_bytes += int(remote["size"])
        else:
            todo.append((remote, target, expected))
    if existing:
        reporter.stage("verify", check_bytes, files=len(existing))
        for remote, target, expected in existing:
            if file_sha256(target, on_bytes=reporter.advance) == expected:
                report.skipped_files += 1
                report.verified_files += 1
            else:
                reporter.note(f"{remote['path']}: differs from the manifest, downloading again")
                todo.append((remote, target, expected))
        reporter.close()

    downloader = _Downloader(
        client,
        pid,
        report,
        reporter,
        parallel=parallel,
        segment_size=segment_size,
    )
    big = [t for t in todo if int(t[0]["size"]) > 2 * segment_size]
    small = [t for t in todo if int(t[0]["size"]) <= 2 * segment_size]
    reporter.stage("download", sum(int(t[0]["size"]) for t in todo), files=len(todo))
    file_pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="openem-file")
    try:
        # Big files one after another, each in parallel ranges; then small ones several at a
        # time. Either way at most ``parallel`` transfers are in flight.
        for item in big:
            _collect(report, item, functools.partial(downloader.file, *item))
        futures = {file_pool.submit(downloader.file, *item): item for item in small}
        for future, item in futures.items():
            _collect(report, item, future.result)
    finally:
        reporter.close()
        file_pool.shutdown(wait=True, cancel_futures=True)
        downloader.pool.shutdown(wait=True, cancel_futures=True)
    return report


def _collect(
    report: DownloadReport,
    item: tuple[dict[str, Any], Path, str | None],
    run: Callable[[], Any],
) -> None:
    path = item[0]["path"]
    try:
        run()
    except ChecksumMismatch as exc:
        report.mismatches.append({"path": path, "message": exc.message})
    except (AuthError, NetworkError):
        raise
    except OpenEMError as exc:
        report.failed.append({"path": path, "message": exc.message})
    except OSError as exc:
        report.failed.append({"path": path, "message": f"cannot write {item[1]}: {exc.strerror}"})

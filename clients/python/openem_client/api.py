"""The REST API: :class:`Client`, one HTTP session per thread, every request retried."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ._version import API_MAJOR, __version__
from .errors import (
    _NETWORK_ERRORS,
    IncompatibleClient,
    NetworkError,
    OpenEMError,
    RetryPolicy,
    _network_reason,
    _short,
    _tried,
    error_from_response,
)

logger = logging.getLogger("openem_client")

API_PREFIX = "/api/v1/"
DEFAULT_TIMEOUT = (10.0, 300.0)  # connect, read (seconds)
USER_AGENT = f"openem-client/{__version__} (python-requests/{requests.__version__})"
API_VERSION_HEADER = "OpenEM-API-Version"
MIN_CLIENT_HEADER = "OpenEM-Min-Client-Version"
SIGN_BATCH = 1000
SignedPart = tuple[str, dict[str, str]]  # a part's presigned URL and the headers to send


def _parts_to_sign(parts: Mapping[int, str]) -> list[dict[str, Any]]:
    return [{"part_number": n, "checksum_crc32": crc} for n, crc in sorted(parts.items())]


def signed_parts(listed: Iterable[dict[str, Any]]) -> dict[int, SignedPart]:
    """The server's signed parts by number: (URL, headers to PUT the part with)."""
    return {
        int(p["part_number"]): (str(p["url"]), {str(k): str(v) for k, v in p["headers"].items()})
        for p in listed
    }


def _version_tuple(text: str) -> tuple[int, ...]:
    """``"0.10.2rc1"`` -> ``(0, 10, 2)``: the leading numbers of each dotted part."""
    numbers = []
    for piece in str(text).strip().split("."):
        digits = ""
        for char in piece:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def compatibility_problem(api_version: str, min_client_version: str) -> str | None:
    """Why this client cannot talk to a portal announcing these versions, or None."""
    upgrade = "upgrade it: pip install --upgrade openem-client (or pipx upgrade openem-client)"
    major = _version_tuple(api_version)[:1]
    if major and major != (API_MAJOR,):
        return (
            f"this portal speaks API version {api_version}, and openem-client {__version__} "
            f"speaks version {API_MAJOR}: {upgrade}"
        )
    if min_client_version and _version_tuple(__version__) < _version_tuple(min_client_version):
        return (
            f"openem-client {__version__} is too old for this portal, which needs "
            f"{min_client_version} or later: {upgrade}"
        )
    return None


PAGE_SIZE = 1000
RETRY_STATUSES = {429, 502, 503, 504}
IDEMPOTENT_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}


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
        self._compatible = False  # the portal's announced versions were checked

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
            if authenticated and not self._compatible:
                self._check_versions(response)
            status = response.status_code
            if status in retriable and status not in allowed and attempt < attempts:
                delay = self.retry.delay(attempt, response.headers.get("Retry-After"))
                logger.info(
                    "%s %s: %s; retry in %.1fs",
                    method,
                    url,
                    response.status_code,
                    delay,
                )
                response.close()
                self._sleep(delay)
                continue
            if response.status_code >= 400 and response.status_code not in allowed:
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable")

    def _check_versions(self, response: requests.Response) -> None:
        """Stop with :class:`IncompatibleClient` if the portal announces that it needs a newer
        client (every ``/api/`` response names its versions; a portal older than versioning
        names none)."""
        api_version = response.headers.get(API_VERSION_HEADER)
        if api_version is None:
            if response.status_code < 400:
                self._compatible = True
            return
        problem = compatibility_problem(api_version, response.headers.get(MIN_CLIENT_HEADER, ""))
        if problem:
            response.close()
            raise IncompatibleClient(problem, status=response.status_code)
        self._compatible = True

    def api_info(self) -> dict[str, Any]:
        """``GET /api/v1/``: the portal's API version and the oldest client it works with."""
        return dict(self.get_json(""))

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
        params = {
            "q": query,
            **{k: v for k, v in filters.items() if v not in (None, "")},
        }
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
        params = {
            "page_size": PAGE_SIZE,
            "prefix": prefix,
            "state": state,
            "format": file_format,
        }
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

    def versions(self, pid: str) -> Iterator[dict[str, Any]]:
        """A dataset's versions, v1 first (with their DOI and state)."""
        yield from self.paginate(f"datasets/{_segment(pid)}/versions/")

    def version_files(self, pid: str, number: int, *, prefix: str = "") -> Iterator[dict[str, Any]]:
        """The frozen files of version ``number`` (path, size, checksums, download_url)."""
        params: dict[str, Any] = {"page_size": PAGE_SIZE, **({"prefix": prefix} if prefix else {})}
        yield from self.paginate(f"datasets/{_segment(pid)}/versions/{int(number)}/files/", params)

    def download_location(self, pid: str, file_id: int, *, url: str = "") -> tuple[str, bool]:
        """Where a file's bytes are: (a presigned storage URL, False) on S3, or (the API's own
        download URL, True: send the token) on local storage. ``url``: the portal's download
        URL of the file when it is not the working copy's (a version's file)."""
        url = url or self.url(f"datasets/{_segment(pid)}/files/{int(file_id)}/download")
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

    def create_upload_session(self, pid: str, *, acquiring: bool = False) -> dict[str, Any]:
        """``acquiring``: the microscope still writes the session (``openem watch``)."""
        body: dict[str, Any] = {"dataset": pid, **({"acquiring": True} if acquiring else {})}
        return dict(self.post_json("uploads/", body))

    def facilities(self) -> list[dict[str, Any]]:
        return list(self.paginate("facilities/", {"page_size": 200}))

    def instruments(self, *, facility: str = "") -> list[dict[str, Any]]:
        params = {"page_size": 200, **({"facility": facility} if facility else {})}
        return list(self.paginate("instruments/", params))

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

    def multipart_start(
        self, multipart_url: str, *, parts: Mapping[int, str] | None = None
    ) -> dict[str, Any]:
        """Start (or resume) a file's multipart upload; ``parts`` (number -> CRC32) are
        presigned in the same request (``started["parts"]``)."""
        body = {"parts": _parts_to_sign(parts)} if parts else None
        return dict(self.post_json(multipart_url, body))

    def multipart_sign(
        self, parts_url: str, upload_id: str, parts: Mapping[int, str]
    ) -> dict[int, SignedPart]:
        """Presigned URLs of ``parts`` (number -> CRC32 in base64), with the headers to send."""
        signed: dict[int, SignedPart] = {}
        wanted = _parts_to_sign(parts)
        for start in range(0, len(wanted), SIGN_BATCH):
            body = self.post_json(
                parts_url, {"upload_id": upload_id, "parts": wanted[start : start + SIGN_BATCH]}
            )
            signed.update(signed_parts(body["parts"]))
        return signed

    def multipart_parts(self, parts_url: str, upload_id: str) -> list[dict[str, Any]]:
        return list(self.get_json(parts_url, params={"upload_id": upload_id})["parts"])

    def multipart_complete(
        self,
        complete_url: str,
        upload_id: str,
        parts: list[dict[str, Any]] | None = None,
        *,
        sha256: str = "",
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"upload_id": upload_id}
        if parts:
            body["parts"] = parts
        if sha256:
            body["sha256"] = sha256
        return dict(self.post_json(complete_url, body))

    def content_offset(self, content_url: str) -> dict[str, Any]:
        return dict(self.get_json(content_url))

    def send_chunk(
        self, content_url: str, data: bytes, offset: int, size: int, *, sha256: str = ""
    ) -> dict[str, Any]:
        """One chunk at ``offset``; ``sha256`` (the whole file's) goes with the last one."""
        headers = {"Content-Type": "application/octet-stream"}
        params = {"sha256": sha256} if sha256 else {}
        if data:
            headers["Content-Range"] = f"bytes {offset}-{offset + len(data) - 1}/{size}"
        else:
            params["offset"] = str(offset)
        response = self.request("PUT", content_url, data=data, headers=headers, params=params)
        return dict(response.json())


def _segment(value: str) -> str:
    """A value for one URL path segment (PIDs never hold slashes; refuse anything that would)."""
    text = str(value).strip()
    if not text or "/" in text or text in {".", ".."} or "?" in text or "#" in text:
        raise OpenEMError(f"{value!r} is not a dataset identifier")
    return text

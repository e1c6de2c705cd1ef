"""Downloads: a dataset's files, verified against its manifest, resumable."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import requests

from .api import Client
from .errors import (
    _NETWORK_ERRORS,
    AuthenticationError,
    AuthError,
    ChecksumMismatch,
    NetworkError,
    OpenEMError,
    PermissionDenied,
    TransferError,
    _tried,
)
from .files import HASH_BLOCK, file_sha256
from .progress import TransferReporter
from .upload import STORED_STATES

DOWNLOAD_SEGMENT = 64 * 1024 * 1024
STREAM_BLOCK = 1024 * 1024


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

    def __init__(self, client: Client, pid: str, file_id: int, url: str = ""):
        self.client = client
        self.pid = pid
        self.file_id = file_id
        self.url = url
        self._lock = threading.Lock()
        self._where: tuple[str, bool] | None = None

    def current(self) -> tuple[str, bool]:
        with self._lock:
            if self._where is None:
                self._where = self.client.download_location(self.pid, self.file_id, url=self.url)
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
        location = _Location(
            self.client, self.pid, int(remote["id"]), url=remote.get("version_download_url", "")
        )
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
    version: int | None = None,
) -> DownloadReport:
    """Download the files of ``pid`` (those matching ``include`` globs) into ``destination``;
    ``version``: the files of that published version, as frozen (checked against its own
    checksums), instead of the current ones.

    Files already there with the manifest's checksum are skipped; ``<name>.part`` files are
    continued with Range requests; big files come in parallel ranges. Every file is checked
    against the manifest's SHA-256; mismatches and failures are collected in the report.
    """
    reporter = reporter or TransferReporter()
    patterns = list(include)
    destination = Path(destination)
    prefix = _literal_prefix(patterns)
    if version is None:
        manifest = client.manifest_entries(pid, prefix=prefix)
        wanted = [
            f
            for f in client.files(pid, prefix=prefix)
            if _matches(f["path"], patterns) and f["state"] in STORED_STATES
        ]
    else:
        wanted = [
            {**f, "version_download_url": f["download_url"]}
            for f in client.version_files(pid, version, prefix=prefix)
            if _matches(f["path"], patterns)
        ]
        manifest = {f["path"]: {"sha256": f.get("checksum_sha256") or ""} for f in wanted}
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

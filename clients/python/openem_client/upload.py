"""Uploads: a folder into a dataset, resumable, parts straight to object storage."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import RETRY_STATUSES, Client, SignedPart, signed_parts
from .errors import (
    _NETWORK_ERRORS,
    AuthError,
    Conflict,
    NetworkError,
    OpenEMError,
    TransferError,
    TransferStopped,
    ValidationError,
    _network_reason,
    _tried,
)
from .files import LocalFile, _read_into, file_sha256, part_crc32, scan_directory
from .progress import TransferReporter

REGISTER_BATCH = 1000
#: Files queued per upload thread beyond the one it sends (bounds the client's memory).
FILES_IN_FLIGHT_PER_THREAD = 4
O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation of the bytes read
SETTLED_STATES = {"ready", "failed"}
STORED_STATES = {"stored", "processing", "ready", "failed"}


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


class RateLimiter:
    """A token bucket shared by the upload threads: at most ``rate`` bytes per second on
    average, in bursts of at most one second's worth (``openem watch --bandwidth``)."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError("the rate must be positive")
        self.rate = float(rate)
        self._clock = clock
        self._lock = threading.Lock()
        self._available = self.rate
        self._last = clock()

    def take(self, amount: int) -> None:
        """Wait until ``amount`` bytes may be sent (a part larger than the burst waits for its
        share; the bucket then goes into debt, which later parts pay back)."""
        with self._lock:
            now = self._clock()
            self._available = min(self.rate, self._available + (now - self._last) * self.rate)
            self._last = now
            self._available -= amount
            wait_for = -self._available / self.rate if self._available < 0 else 0.0
        if wait_for > 0:
            time.sleep(wait_for)


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
        digest: Callable[[LocalFile], str] | None = None,
        limiter: RateLimiter | None = None,
    ):
        self.client = client
        self.limiter = limiter
        # The SHA-256 of a file, declared when its upload completes (hashed while it is sent).
        self.digest = digest or (lambda local: "")
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

    def _put_part(
        self, signed: SignedPart, data: bytes | memoryview, resign: Callable[[], SignedPart]
    ) -> str:
        url, headers = signed
        policy = self.client.retry
        resigned = False
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self.client._session(authenticated=False).put(
                    url, data=data, headers=headers, timeout=self.client.timeout
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
                (url, headers), resigned = resign(), True  # the presigned URL may have expired
                continue
            retriable = (
                response.status_code in RETRY_STATUSES
                or response.status_code >= 500
                or _damaged_on_the_way(response)
            )
            if not retriable or attempt == policy.attempts:
                raise TransferError(
                    f"storage refused a part: {response.status_code} {response.reason} "
                    f"{response.text[:200]}",
                    status=response.status_code,
                )
            self.client._sleep(policy.delay(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    def _send_part(
        self, fd: int, offset: int, length: int, sign: Callable[[str], SignedPart]
    ) -> tuple[str, str]:
        """Read a part, sign it with its CRC32 (which S3 checks on arrival), send it: (ETag,
        CRC32). A part is read once: the same bytes are checksummed and sent."""
        if self.counter.stop.is_set():
            raise TransferStopped("stopped before sending the part")
        data = self._part_buffer(length)
        if _read_into(fd, data, offset) != length:
            raise TransferError(f"the file shrank while it was uploaded (at byte {offset})")
        crc = part_crc32(data)
        if self.limiter is not None:
            self.limiter.take(length)
        etag = self._put_part(sign(crc), data if length else b"", lambda: sign(crc))
        self.counter.count_part(self.report)
        self.reporter.advance(length)
        with self.lock:
            self.report.bytes_uploaded += length
        return etag, crc

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
        self,
        local: LocalFile,
        remote: dict[str, Any],
        upload: dict[str, Any],
        fresh: bool,
    ) -> None:
        if fresh and int(upload["part_count"]) == 1:
            self._single_part(local, upload)
            return
        started = self.client.multipart_start(upload["url"])
        upload_id = started["upload_id"]
        part_size = int(started["part_size"])
        part_count = int(started["part_count"])
        sizes = {
            n: min(part_size, local.size - (n - 1) * part_size) for n in range(1, part_count + 1)
        }
        sizes = {n: max(0, s) for n, s in sizes.items()}
        done: dict[int, tuple[str, str]] = {}  # part number -> (ETag, CRC32 if S3 lists it)
        if not fresh:
            for part in self.client.multipart_parts(started["parts_url"], upload_id):
                number = int(part["part_number"])
                if sizes.get(number) == int(part["size"]):
                    done[number] = (str(part["etag"]), str(part.get("checksum_crc32") or ""))
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
            fd = os.open(local.source, os.O_RDONLY | O_BINARY)
            try:
                futures: dict[Future[tuple[str, str]], int] = {}
                for number in missing:

                    def sign(crc: str, number: int = number) -> SignedPart:
                        signed = self.client.multipart_sign(
                            started["parts_url"], upload_id, {number: crc}
                        )
                        return signed[number]

                    future = self.part_pool.submit(
                        self._send_part, fd, (number - 1) * part_size, sizes[number], sign
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
        self._complete(local, started, done)

    def _single_part(self, local: LocalFile, upload: dict[str, Any]) -> None:
        """A new file of one part: read, checksummed, started and signed in one request (the
        start is idempotent, so signing again after a 403 is the same request), sent."""
        started: dict[str, Any] = {}

        def sign(crc: str) -> SignedPart:
            started.update(self.client.multipart_start(upload["url"], parts={1: crc}))
            return signed_parts(started["parts"])[1]

        fd = os.open(local.source, os.O_RDONLY | O_BINARY)
        try:
            etag, crc = self._send_part(fd, 0, local.size, sign)
        finally:
            os.close(fd)
        if self.counter.stop.is_set():
            raise TransferStopped("stopped after the part limit")
        self._complete(local, started, {1: (etag, crc)})

    def _complete(
        self, local: LocalFile, started: dict[str, Any], done: dict[int, tuple[str, str]]
    ) -> None:
        parts = [
            {"part_number": n, "etag": etag} | ({"checksum_crc32": crc} if crc else {})
            for n, (etag, crc) in sorted(done.items())
        ]
        self.client.multipart_complete(
            started["complete_url"], started["upload_id"], parts, sha256=self.digest(local)
        )

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
                last = offset + len(data) >= local.size
                if self.limiter is not None:
                    self.limiter.take(len(data))
                try:
                    answer = self.client.send_chunk(
                        url, data, offset, local.size, sha256=self.digest(local) if last else ""
                    )
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
    client: Client, pid: str, session_id: int, *, new_session: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    in_dataset = {f["path"]: f for f in client.files(pid)}
    if new_session:  # just opened: nothing registered in it yet
        return in_dataset, {}
    in_session = {f["path"]: f for f in client.session_files(session_id, state="registered")}
    return in_dataset, in_session


class _Checksums:
    """SHA-256s of the files to upload, computed by background threads in file order while
    the files are sent: each is declared when its file's upload completes, and ingest checks
    the stored bytes against it.

    Hashing may start before the server has said which files it needs (:meth:`start`): the
    first files are hashed while the session and listing requests run, and a file that turns
    out not to be needed is stopped (:meth:`keep`)."""

    def __init__(self, parallel: int):
        # hashlib releases the GIL: one thread per core.
        self.workers = max(1, min(parallel, os.cpu_count() or 1))
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="openem-hash")
        self.futures: dict[str, Future[str]] = {}
        self.stops: dict[str, threading.Event] = {}

    def start(self, files: Iterable[LocalFile]) -> None:
        for local in files:
            if local.path in self.futures:
                continue
            stop = self.stops[local.path] = threading.Event()
            self.futures[local.path] = self.pool.submit(file_sha256, local.source, stop=stop)

    def keep(self, files: list[LocalFile]) -> None:
        """Only ``files`` are needed (hashing starts for those not started): stop the others."""
        wanted = {local.path for local in files}
        for path, future in self.futures.items():
            if path not in wanted:
                self.stops[path].set()
                future.cancel()
        self.start(files)

    def digest(self, local: LocalFile) -> str:
        """The file's SHA-256 (waiting for it), or "" if it is not hashed here."""
        future = self.futures.get(local.path)
        if future is None or self.stops[local.path].is_set():
            return ""
        return future.result()

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
    new files are registered 1,000 at a time and sent at once, while background threads hash
    them (SHA-256, declared as each file's upload completes, verified again by ingest).
    ``complete`` closes the session once every file is up. Problems with single files (a
    different size on the server...) are collected in the report, not raised.
    """
    reporter = reporter or TransferReporter()
    root = Path(root)
    if not root.is_dir():
        raise OpenEMError(f"{root} is not a folder")
    local_files = scan_directory(root, exclude=exclude)
    checksums = _Checksums(parallel) if checksum else None
    try:
        if checksums:
            # The first files are most likely new: hash them while the server is asked.
            checksums.start(local_files[: checksums.workers])
        return _upload(
            client,
            pid,
            local_files,
            checksums,
            reporter,
            parallel,
            stop_after_parts,
            complete,
        )
    finally:
        if checksums:
            checksums.shutdown()


def upload_files(
    client: Client,
    pid: str,
    local_files: list[LocalFile],
    *,
    session: dict[str, Any] | None = None,
    assume_new: bool = False,
    reporter: TransferReporter | None = None,
    parallel: int = 8,
    checksum: bool = True,
    limiter: RateLimiter | None = None,
    on_done: Callable[[LocalFile, str], None] | None = None,
    acquiring: bool = False,
    complete: bool = False,
) -> UploadReport:
    """Upload ``local_files`` (in this order) into dataset ``pid``: the path of
    :func:`upload_directory` for a list of files chosen by the caller (``openem watch``).

    ``session``: the open upload session to use (else the dataset's open one, or a new one,
    marked ``acquiring`` if asked). ``assume_new``: the caller knows these files were never
    registered, so the dataset's file list is not read (if one was after all, the files are
    looked up and resumed). ``on_done(file, "uploaded" | "present")`` is called as each file is
    up (from the upload threads). The session stays open unless ``complete``."""
    reporter = reporter or TransferReporter()
    checksums = _Checksums(parallel) if checksum else None
    try:
        if checksums:
            checksums.start(local_files[: checksums.workers])
        try:
            return _upload(
                client,
                pid,
                local_files,
                checksums,
                reporter,
                parallel,
                None,
                complete,
                session=session,
                assume_new=assume_new,
                limiter=limiter,
                on_done=on_done,
                acquiring=acquiring,
            )
        except ValidationError as exc:
            if not assume_new or "already in the dataset" not in str(exc.details):
                raise
        # Registered before (a run killed between registering and noting it): look them up.
        return _upload(
            client,
            pid,
            local_files,
            checksums,
            reporter,
            parallel,
            None,
            complete,
            session=session,
            assume_new=False,
            limiter=limiter,
            on_done=on_done,
            acquiring=acquiring,
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
    *,
    session: dict[str, Any] | None = None,
    assume_new: bool = False,
    limiter: RateLimiter | None = None,
    on_done: Callable[[LocalFile, str], None] | None = None,
    acquiring: bool = False,
) -> UploadReport:
    new_session = False
    if session is None:
        session = client.open_upload_session(pid)
        new_session = session is None
        if session is None:
            session = client.create_upload_session(pid, acquiring=acquiring)
    report = UploadReport(dataset=pid, session=int(session["id"]), storage=session["storage"])
    report.files_local = len(local_files)
    report.bytes_local = sum(f.size for f in local_files)
    if assume_new:
        in_dataset: dict[str, Any] = {}
        in_session: dict[str, Any] = {}
    else:
        in_dataset, in_session = _remote_state(client, pid, report.session, new_session=new_session)

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
            if on_done:
                on_done(local, "present")
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
        # New files, and files registered by an earlier run without a checksum.
        checksums.keep(to_register + [local for local, remote in to_resume if not remote["sha256"]])

    uploader = _Uploader(
        client,
        report,
        reporter,
        parallel=parallel,
        stop_after_parts=stop_after_parts,
        digest=checksums.digest if checksums else None,
        limiter=limiter,
    )

    def send(local: LocalFile, remote: dict[str, Any], fresh: bool) -> None:
        uploader.upload_file(local, remote, fresh)
        if on_done:
            on_done(local, "uploaded")

    file_pool = ThreadPoolExecutor(max(1, parallel), thread_name_prefix="openem-file")
    # Files in flight or waiting for a thread: a window, not the whole list, so that memory
    # stays flat for a million files and registration keeps pace with the uploads.
    window = max(1, parallel) * FILES_IN_FLIGHT_PER_THREAD
    pending: dict[Future[None], LocalFile] = {}
    upload_bytes = sum(f.size for f, _ in to_resume) + sum(f.size for f in to_register)
    uploading = False
    stopped = False

    def settle(done: Iterable[Future[None]]) -> None:
        nonlocal stopped
        for future in done:
            local = pending.pop(future)
            try:
                future.result()
            except TransferStopped:
                stopped = True
            except OpenEMError as exc:
                if isinstance(exc, AuthError | NetworkError):
                    raise
                report.problems.append({"path": local.path, "message": exc.message})

    def submit(local: LocalFile, remote: dict[str, Any], fresh: bool) -> None:
        nonlocal uploading
        if not uploading:
            uploading = True
            reporter.stage("upload", upload_bytes, files=len(to_resume) + len(to_register))
        while len(pending) >= window:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            settle(done)
        pending[file_pool.submit(send, local, remote, fresh)] = local

    try:
        for local, remote in to_resume:
            submit(local, remote, False)
        # A batch is registered all or nothing (every refused path is listed at once) and
        # starts uploading at once; its checksums follow with each file's completion.
        for start in range(0, len(to_register), REGISTER_BATCH):
            if uploader.counter.stop.is_set():
                break
            batch = to_register[start : start + REGISTER_BATCH]
            entries = [{"path": f.path, "size": f.size} for f in batch]
            registered = client.register_files(report.session, entries)
            report.files_registered += len(registered)
            for local, remote in zip(batch, registered, strict=True):
                submit(local, remote, True)
        if not uploading:
            reporter.stage("upload", 0)
        settle(list(pending))
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


#: S3's answers to a part whose bytes differ from the CRC32 it was signed with: the bytes read
#: from the file were checksummed before sending, so they were damaged on the way: send again.
_DAMAGED_CODES = ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch")


def _damaged_on_the_way(response: Any) -> bool:
    return response.status_code == 400 and any(code in response.text for code in _DAMAGED_CODES)

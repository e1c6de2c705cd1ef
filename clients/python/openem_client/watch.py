"""``openem watch``: follow session folders while the microscope writes them, and upload each
file once it is complete, into one dataset per session.

The agent runs next to EPU, SerialEM or Tomo5 (or on the storage server they write to). Each
pass it walks the folder, notes every file's size and modification time in a local SQLite
database, and uploads the files that stopped changing (unchanged for ``stable_seconds``, or
unchanged for a pass once their sidecar exists), oldest first, through the same multipart /
CRC32 / SHA-256 path as ``openem upload`` (:func:`openem_client.upload.upload_files`). A file is
marked uploaded in the database as soon as its upload completes, so a killed agent picks up
where it stopped: files it had registered are resumed (the server lists their parts), files it
had finished are never read again. A session is finished when a marker file appears or no new
file came for ``finish_after`` seconds: its upload session is closed, which aggregates the
dataset's metadata.

Nothing here knows about Django: it speaks the portal's REST API through :class:`Client`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import Client
from .errors import OpenEMError
from .files import LocalFile
from .upload import RateLimiter, upload_files

logger = logging.getLogger("openem_client.watch")

SCHEMA_VERSION = 1
KINDS = ("epu", "serialem", "tomo5")
DEFAULT_TECHNIQUE = {"epu": "spa", "serialem": "tomography", "tomo5": "tomography"}
#: Written by acquisition software while a file is not complete: never uploaded.
ALWAYS_EXCLUDED = ("*.tmp", "*.part", "*.partial", "*~", ".DS_Store", "Thumbs.db", "desktop.ini")
#: Sidecars whose existence says that the file they describe is complete (EPU writes the
#: movie's XML once the exposure is done; SerialEM the stack's .mdoc when the stack closes).
SIDECAR_SUFFIXES = (".xml", ".mdoc")


class StateError(OpenEMError):
    """The state database cannot be used (corrupt, not a database, from a newer client)."""


class UnknownTarget(OpenEMError):
    """The facility, instrument or project named on the command line does not exist."""


# --- Recognising session folders --------------------------------------------------------------


def session_kind(folder: Path) -> str | None:
    """``epu``, ``serialem``, ``tomo5``, or None when ``folder`` is not (yet) a session."""
    try:
        names = {entry.name: entry for entry in os.scandir(folder)}
    except OSError:
        return None
    if "EpuSession.dm" in names or any(
        name.startswith("Images-Disc") and entry.is_dir() for name, entry in names.items()
    ):
        return "epu"
    if "TomoSession.dm" in names or ("Batch" in names and names["Batch"].is_dir()):
        return "tomo5"
    if any(name.endswith(".mdoc") for name in names):
        return "serialem"
    return None


def find_sessions(root: Path) -> list[tuple[Path, str]]:
    """``root`` itself if it is a session folder, else its sub-folders that are."""
    kind = session_kind(root)
    if kind:
        return [(root, kind)]
    found = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_dir() and not entry.name.startswith("."):
            kind = session_kind(Path(entry.path))
            if kind:
                found.append((Path(entry.path), kind))
    return found


# --- The state database ------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    root TEXT NOT NULL,
    server TEXT NOT NULL,
    kind TEXT NOT NULL,
    pid TEXT NOT NULL DEFAULT '',
    upload_session INTEGER,
    last_new_file REAL NOT NULL,
    finished_at REAL,
    PRIMARY KEY (server, root)
);
CREATE TABLE IF NOT EXISTS files (
    server TEXT NOT NULL,
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    seen_since REAL NOT NULL,
    state TEXT NOT NULL,
    uploaded_at REAL,
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (server, root, path)
);
"""
# File states: 'seen' (changing or waiting to be stable), 'sending' (handed to an upload that
# may have registered it), 'uploaded' (done: never read again), 'changed' (modified after its
# upload: the portal keeps the uploaded bytes), 'gone' (deleted or renamed after its upload).


class StateDB:
    """What the agent has seen and sent, per server and session folder (SQLite, WAL)."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create the folder of the state database {path}: {exc}"
            ) from None
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            ok = self.db.execute("PRAGMA quick_check").fetchone()
            if not ok or ok[0] != "ok":
                raise sqlite3.DatabaseError(str(ok[0] if ok else "no answer"))
            self.db.executescript(_SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"the state database {path} is damaged or not a database ({exc}); it was left "
                "as it is: move it away to start afresh (files already uploaded are then "
                "recognised on the server and not sent again)"
            ) from None
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StateError(
                f"the state database {path} was written by a newer openem-client; upgrade it"
            )

    def close(self) -> None:
        self.db.close()

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.db.execute(sql, tuple(params))


def _transaction(db: StateDB) -> Any:
    """One write transaction on ``db`` (a pass's observations land together or not at all)."""

    class _Tx:
        def __enter__(self) -> None:
            db.lock.acquire()
            db.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind: Any, *rest: Any) -> None:
            try:
                db.db.execute("ROLLBACK" if kind else "COMMIT")
            finally:
                db.lock.release()

    return _Tx()


# --- The watcher -------------------------------------------------------------------------------


@dataclass
class WatchConfig:
    root: Path
    facility: str
    instrument: str
    project: str = ""
    technique: str = ""
    stable_seconds: float = 30.0
    poll_seconds: float = 10.0
    finish_after: float = 4 * 3600.0
    finish_markers: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    bandwidth: float | None = None  # bytes per second
    parallel: int = 4
    checksum: bool = True


@dataclass
class PassReport:
    """What one pass over the folder did."""

    sessions: int = 0
    uploaded: int = 0
    bytes_uploaded: int = 0
    waiting: int = 0  # seen, not yet stable
    finished: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Seen:
    path: str
    source: Path
    size: int
    mtime_ns: int
    inode: int


class Watcher:
    def __init__(
        self,
        client: Client,
        state: StateDB,
        config: WatchConfig,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.client = client
        self.state = state
        self.config = config
        self.clock = clock
        self.server = client.server
        self.limiter = RateLimiter(config.bandwidth) if config.bandwidth else None
        self._instrument_id: int | None = None

    # -- what the command line names -----------------------------------------------------------

    def check_target(self) -> None:
        """Fail early, with the valid choices, if the facility or instrument is unknown."""
        facilities = self.client.facilities()
        slugs = sorted(str(f["slug"]) for f in facilities)
        if self.config.facility not in slugs:
            raise UnknownTarget(
                f"unknown facility {self.config.facility!r}; facilities on {self.server}: "
                + (", ".join(slugs) or "none")
            )
        instruments = self.client.instruments(facility=self.config.facility)
        wanted = self.config.instrument.strip()
        for instrument in instruments:
            if (
                wanted == str(instrument["id"])
                or wanted.casefold() == str(instrument["name"]).casefold()
            ):
                self._instrument_id = int(instrument["id"])
                return
        choices = ", ".join(f"{i['id']} ({i['name']})" for i in instruments) or "none"
        raise UnknownTarget(
            f"unknown instrument {wanted!r} at {self.config.facility}; its instruments "
            f"(id or name): {choices}"
        )

    # -- one pass --------------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        report = PassReport()
        root = self.config.root
        sessions = find_sessions(root)  # OSError: the caller retries (a storage hiccup)
        for folder, kind in sessions:
            report.sessions += 1
            self._session_pass(folder, kind, report)
        return report

    def _session_row(self, folder: Path, kind: str) -> sqlite3.Row | tuple[Any, ...]:
        key = str(folder.resolve())
        row = self.state.execute(
            "SELECT pid, upload_session, last_new_file, finished_at FROM sessions "
            "WHERE server=? AND root=?",
            (self.server, key),
        ).fetchone()
        if row is None:
            self.state.execute(
                "INSERT INTO sessions (root, server, kind, last_new_file) VALUES (?, ?, ?, ?)",
                (key, self.server, kind, self.clock()),
            )
            row = ("", None, self.clock(), None)
        return row

    def _scan(self, folder: Path) -> dict[str, _Seen]:
        patterns_out = ALWAYS_EXCLUDED + tuple(self.config.exclude)
        found: dict[str, _Seen] = {}

        def unreadable(error: OSError) -> None:
            logger.warning("cannot read %s: %s (skipped this pass)", error.filename, error.strerror)

        for directory, subdirectories, names in os.walk(folder, onerror=unreadable):
            subdirectories.sort()
            for name in names:
                source = Path(directory) / name
                relative = source.relative_to(folder).as_posix()
                if any(
                    fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(relative, p)
                    for p in patterns_out
                ):
                    continue
                if self.config.include and not any(
                    fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p)
                    for p in self.config.include
                ):
                    continue
                if name in self.config.finish_markers:
                    continue
                try:
                    stat = source.stat()
                except OSError:
                    continue  # gone since listed, or a broken link
                if not source.is_file():
                    continue
                found[relative] = _Seen(
                    relative, source, stat.st_size, stat.st_mtime_ns, stat.st_ino
                )
        return found

    def _session_pass(self, folder: Path, kind: str, report: PassReport) -> None:
        key = str(folder.resolve())
        pid, upload_session, last_new_file, finished_at = tuple(self._session_row(folder, kind))
        now = self.clock()
        seen = self._scan(folder)
        known = {
            row[0]: row
            for row in self.state.execute(
                "SELECT path, size, mtime_ns, inode, seen_since, state FROM files "
                "WHERE server=? AND root=?",
                (self.server, key),
            )
        }
        uploaded_by_identity = {
            (row[3], row[1], row[2]): path
            for path, row in known.items()
            if row[5] in ("uploaded", "gone")
        }
        new_files = False
        with _transaction(self.state):
            for path, row in known.items():
                if path in seen:
                    continue
                if row[5] in ("seen",):
                    # Deleted or renamed before it was complete: forget it.
                    self.state.db.execute(
                        "DELETE FROM files WHERE server=? AND root=? AND path=?",
                        (self.server, key, path),
                    )
                elif row[5] == "uploaded":
                    logger.warning(
                        "%s/%s: deleted or renamed after its upload; the portal keeps it",
                        folder.name,
                        path,
                    )
                    self.state.db.execute(
                        "UPDATE files SET state='gone' WHERE server=? AND root=? AND path=?",
                        (self.server, key, path),
                    )
            for path, item in seen.items():
                row = known.get(path)
                if row is None:
                    new_files = True
                    renamed_from = uploaded_by_identity.get((item.inode, item.size, item.mtime_ns))
                    if renamed_from is not None and renamed_from not in seen:
                        logger.warning(
                            "%s/%s: renamed from %s after its upload; not sent again (the "
                            "portal keeps the old name)",
                            folder.name,
                            path,
                            renamed_from,
                        )
                        state, note = "uploaded", f"renamed from {renamed_from}"
                    else:
                        state, note = "seen", ""
                    self.state.db.execute(
                        "INSERT INTO files (server, root, path, size, mtime_ns, inode, "
                        "seen_since, state, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            self.server,
                            key,
                            path,
                            item.size,
                            item.mtime_ns,
                            item.inode,
                            now,
                            state,
                            note,
                        ),
                    )
                    continue
                changed = (row[1], row[2]) != (item.size, item.mtime_ns)
                if not changed:
                    continue
                if row[5] in ("seen", "sending"):
                    # Still being written (or rewritten): the stability clock starts again.
                    self.state.db.execute(
                        "UPDATE files SET size=?, mtime_ns=?, inode=?, seen_since=?, "
                        "state='seen' WHERE server=? AND root=? AND path=?",
                        (item.size, item.mtime_ns, item.inode, now, self.server, key, path),
                    )
                    if row[5] == "sending":
                        logger.warning("%s/%s: changed while it was uploaded", folder.name, path)
                elif row[5] == "uploaded":
                    logger.error(
                        "%s/%s: changed after its upload (%s -> %s bytes); the portal keeps "
                        "the uploaded version: replace it there by hand if the new one counts",
                        folder.name,
                        path,
                        row[1],
                        item.size,
                    )
                    self.state.db.execute(
                        "UPDATE files SET state='changed', size=?, mtime_ns=?, note=? "
                        "WHERE server=? AND root=? AND path=?",
                        (item.size, item.mtime_ns, "changed after upload", self.server, key, path),
                    )
                    report.problems.append(f"{folder.name}/{path}: changed after its upload")
            if new_files:
                last_new_file = now
                self.state.db.execute(
                    "UPDATE sessions SET last_new_file=? WHERE server=? AND root=?",
                    (now, self.server, key),
                )

        ready, waiting = self._complete_files(key, seen, now)
        report.waiting += waiting
        if ready:
            if finished_at is not None:
                logger.info(
                    "%s: new files after the session was closed; opening another", folder.name
                )
                upload_session, finished_at = None, None
                self.state.execute(
                    "UPDATE sessions SET finished_at=NULL, upload_session=NULL "
                    "WHERE server=? AND root=?",
                    (self.server, key),
                )
            if not pid:
                pid = self._create_dataset(folder, kind, key)
            session = self._upload_session(pid, upload_session, key)
            self._send(folder, key, pid, session, ready, report)
        if finished_at is None and pid and not waiting and self._finished(folder, last_new_file):
            self._finish(folder, key, report)

    def _complete_files(
        self, key: str, seen: dict[str, _Seen], now: float
    ) -> tuple[list[tuple[_Seen, bool]], int]:
        """The files ready to send, oldest first (with whether an earlier run may have
        registered them), and how many are still waiting to be stable."""
        rows = self.state.execute(
            "SELECT path, seen_since, state FROM files WHERE server=? AND root=? "
            "AND state IN ('seen', 'sending')",
            (self.server, key),
        ).fetchall()
        names = set(seen)
        ready: list[tuple[_Seen, bool]] = []
        waiting = 0
        quick = min(self.config.stable_seconds, max(self.config.poll_seconds, 1.0))
        for path, seen_since, state in rows:
            item = seen.get(path)
            if item is None:
                continue
            unchanged_for = now - seen_since
            needed = self.config.stable_seconds
            if needed > quick and _has_sidecar(path, names, seen):
                needed = quick
            if unchanged_for >= needed:
                ready.append((item, state == "sending"))
            else:
                waiting += 1
        ready.sort(key=lambda pair: (pair[0].mtime_ns, pair[0].path))
        return ready, waiting

    def _create_dataset(self, folder: Path, kind: str, key: str) -> str:
        marker = f"openem-watch: {socket.gethostname()}:{key}"
        # A dataset this agent created but could not note (killed right after): find it.
        for candidate in self.client.search(folder.name, facility=self.config.facility, limit=50):
            if marker in str(candidate.get("description") or ""):
                pid = str(candidate["pid"])
                break
        else:
            dataset = self.client.create_dataset(
                title=folder.name,
                facility=self.config.facility,
                instrument=self._instrument_id,
                project=self.config.project or None,
                technique=self.config.technique or DEFAULT_TECHNIQUE[kind],
                description=f"{kind.upper()} session recorded while acquiring.\n\n{marker}",
            )
            pid = str(dataset["pid"])
            logger.info("%s: created dataset %s %s", folder.name, pid, dataset.get("html_url", ""))
        self.state.execute(
            "UPDATE sessions SET pid=? WHERE server=? AND root=?", (pid, self.server, key)
        )
        return pid

    def _upload_session(self, pid: str, known: int | None, key: str) -> dict[str, Any]:
        session = self.client.open_upload_session(pid)
        if session is None:
            session = self.client.create_upload_session(pid, acquiring=True)
            logger.info("upload session %s opened for %s", session["id"], pid)
        if known != session["id"]:
            self.state.execute(
                "UPDATE sessions SET upload_session=? WHERE server=? AND root=?",
                (int(session["id"]), self.server, key),
            )
        return session

    def _send(
        self,
        folder: Path,
        key: str,
        pid: str,
        session: dict[str, Any],
        ready: list[tuple[_Seen, bool]],
        report: PassReport,
    ) -> None:
        # Re-check each file just before: a file that moved since the pass began waits.
        batch: list[tuple[_Seen, bool]] = []
        for item, maybe_registered in ready:
            try:
                stat = item.source.stat()
            except OSError:
                continue
            if (stat.st_size, stat.st_mtime_ns) == (item.size, item.mtime_ns):
                batch.append((item, maybe_registered))
        if not batch:
            return
        with _transaction(self.state):
            for item, _ in batch:
                self.state.db.execute(
                    "UPDATE files SET state='sending' WHERE server=? AND root=? AND path=?",
                    (self.server, key, item.path),
                )
        by_path = {item.path: item for item, _ in batch}
        sizes = {"bytes": 0, "files": 0}
        lock = threading.Lock()

        def done(local: LocalFile, how: str) -> None:
            item = by_path[local.path]
            try:
                stat = item.source.stat()
                intact = (stat.st_size, stat.st_mtime_ns) == (item.size, item.mtime_ns)
            except OSError:
                intact = False
            state, note = ("uploaded", "") if intact else ("changed", "changed during upload")
            if not intact:
                logger.error(
                    "%s/%s: changed while it was uploaded; ingest will find that its "
                    "checksum does not match",
                    folder.name,
                    local.path,
                )
            self.state.execute(
                "UPDATE files SET state=?, uploaded_at=?, note=? "
                "WHERE server=? AND root=? AND path=?",
                (state, self.clock(), note, self.server, key, local.path),
            )
            with lock:
                sizes["files"] += 1
                sizes["bytes"] += local.size if how == "uploaded" else 0
            logger.debug("%s/%s: %s", folder.name, local.path, how)

        fresh = [LocalFile(i.path, i.source, i.size) for i, again in batch if not again]
        again = [LocalFile(i.path, i.source, i.size) for i, again in batch if again]
        for files, assume_new in ((again, False), (fresh, True)):
            if not files:
                continue
            result = upload_files(
                self.client,
                pid,
                files,
                session=session,
                assume_new=assume_new,
                parallel=self.config.parallel,
                checksum=self.config.checksum,
                limiter=self.limiter,
                on_done=done,
            )
            for problem in result.problems:
                logger.error("%s/%s: %s", folder.name, problem["path"], problem["message"])
                report.problems.append(f"{folder.name}/{problem['path']}: {problem['message']}")
        report.uploaded += sizes["files"]
        report.bytes_uploaded += sizes["bytes"]
        logger.info(
            "%s: %d files (%.1f MiB) uploaded into %s",
            folder.name,
            sizes["files"],
            sizes["bytes"] / 2**20,
            pid,
        )

    def _finished(self, folder: Path, last_new_file: float) -> bool:
        if any((folder / marker).exists() for marker in self.config.finish_markers):
            return True
        return self.clock() - last_new_file >= self.config.finish_after

    def _finish(self, folder: Path, key: str, report: PassReport) -> None:
        pending = self.state.execute(
            "SELECT COUNT(*) FROM files WHERE server=? AND root=? AND state IN ('seen', 'sending')",
            (self.server, key),
        ).fetchone()[0]
        if pending:
            return
        row = self.state.execute(
            "SELECT pid, upload_session FROM sessions WHERE server=? AND root=?",
            (self.server, key),
        ).fetchone()
        pid, upload_session = row
        session = self.client.open_upload_session(pid)
        if session is not None:
            self.client.complete_upload_session(int(session["id"]))
            logger.info(
                "%s: session finished; upload session %s closed, metadata aggregated by the portal",
                folder.name,
                session["id"],
            )
        self.state.execute(
            "UPDATE sessions SET finished_at=? WHERE server=? AND root=?",
            (self.clock(), self.server, key),
        )
        report.finished.append(folder.name)


def _has_sidecar(path: str, names: set[str], seen: dict[str, _Seen]) -> bool:
    """Whether a sidecar of ``path`` exists and was written after it (EPU: ``X.xml`` next to
    ``X.mrc``/``X.tiff``/``X.eer``, or ``X_fractions.tiff``; SerialEM: ``X.mrc.mdoc``)."""
    stem, dot, _suffix = path.rpartition(".")
    if not dot or path.endswith(SIDECAR_SUFFIXES):
        return False
    item = seen[path]
    candidates = [path + ".mdoc", stem + ".xml"]
    if stem.endswith("_fractions"):
        candidates.append(stem[: -len("_fractions")] + ".xml")
    for candidate in candidates:
        if candidate in names and seen[candidate].mtime_ns >= item.mtime_ns:
            return True
    return False

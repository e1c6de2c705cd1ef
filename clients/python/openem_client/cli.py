"""``openem``: the OpenEM portal from the command line (search, upload, download, status).

The REST API and the transfers are :mod:`openem_client`'s; this module parses arguments, finds
the server and token, draws progress bars on stderr, prints results (``--json`` for scripts)
and turns errors into one line of text and an exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from openem_client import (
    API_MAJOR,
    AuthenticationError,
    ChecksumMismatch,
    Client,
    Conflict,
    IncompatibleClient,
    NetworkError,
    NotFound,
    OpenEMError,
    PermissionDenied,
    RetryPolicy,
    ServerError,
    Throttled,
    TransferError,
    TransferReporter,
    TransferStopped,
    ValidationError,
    __version__,
    download_dataset,
    upload_directory,
    wait_for_ingest,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_REFUSED = 5
EXIT_NETWORK = 6
EXIT_TRANSFER = 7
EXIT_INGEST = 8
EXIT_INCOMPATIBLE = 9
EXIT_STATE = 10
EXIT_INTERRUPTED = 130

EXIT_STATUS_HELP = """\
exit status:
  0    success
  1    any other error
  2    bad command line, or no server configured
  3    authentication failed (401) or not allowed (403): check the token
  4    no such dataset, file or upload session (or not visible to you)
  5    the server refused the request (invalid input, conflicting state)
  6    the server could not be reached or kept failing (after retries)
  7    a transfer is incomplete: a file could not be sent or fetched, or a
       downloaded file does not match the manifest's SHA-256
  8    upload --wait: some files failed ingest (see the reasons printed)
  9    the portal needs a newer openem-client: pip install --upgrade openem-client
  10   watch: the state database cannot be used (damaged, or from a newer client)
  130  interrupted (Ctrl-C, or --stop-after-parts): run the same command again
       to resume

configuration (the first one found wins):
  --server / --token,  OPENEM_URL / OPENEM_TOKEN,  the file written by
  `openem login` ($XDG_CONFIG_HOME/openem/config.json, else
  ~/.config/openem/config.json; its token is only sent to its own server)
"""

EXAMPLES = """\
examples:
  openem login --server https://openem.example.org
  openem search "apoferritin" --technique spa --json
  openem show oem-7k2m9q4x1z
  openem files oem-7k2m9q4x1z --prefix Images-Disc1/ --json
  openem upload ./Session_42 --dataset oem-7k2m9q4x1z --wait
  openem upload ./Session_42 --new --title "Apoferritin, Krios 1" \\
      --facility basel --technique spa --wait
  openem download oem-7k2m9q4x1z --include '*.mrc' --to ./data
  openem download oem-7k2m9q4x1z --version 1 --to ./data-v1
  openem manifest oem-7k2m9q4x1z > oem-7k2m9q4x1z.sha256
  openem status 42 --wait
  openem watch /data/EPU --facility basel --instrument "Krios 1" --finish-after 4h
"""


# --- Configuration ----------------------------------------------------------------------------------


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "openem" / "config.json"


def state_path() -> Path:
    """Where an interrupted ``upload --new`` remembers the dataset it created."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "openem" / "uploads.json"


def read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise OpenEMError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def write_private_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` readable by its owner only (it may hold a token)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(path.name + ".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def _same_server(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url.strip().rstrip("/")
        return url if "://" in url else "https://" + url

    return norm(a) == norm(b)


def make_client(args: argparse.Namespace, *, need_token: bool = False) -> Client:
    """The client for ``args``: flags, then environment, then the config file."""
    config = read_json_file(config_path())
    server = args.server or os.environ.get("OPENEM_URL") or config.get("server") or ""
    if not server:
        raise UsageError(
            "no server given: pass --server URL, set OPENEM_URL, or run `openem login`"
        )
    token = args.token or os.environ.get("OPENEM_TOKEN")
    if not token and config.get("token") and _same_server(server, str(config.get("server", ""))):
        token = str(config["token"])
    if need_token and not token:
        raise AuthenticationError(
            "this command needs an API token: pass --token, set OPENEM_TOKEN, or run "
            "`openem login` (create a token on your profile page)"
        )
    client = Client(server, token, retry=RetryPolicy(attempts=args.retries))
    _OPEN_CLIENTS.append(client)
    return client


#: Clients made for the running command, closed when it ends (their keep-alive connections too).
_OPEN_CLIENTS: list[Client] = []


class UsageError(Exception):
    """A problem with the command line or configuration (exit status 2)."""


# --- Output ----------------------------------------------------------------------------------------


def human_size(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


class BarReporter(TransferReporter):
    """tqdm progress bars on stderr: bytes with speed and ETA, and files done."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None):
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._bar: Any = None
        self._files = 0
        self._files_total = 0

    def stage(self, name: str, total: int, unit: str = "B", files: int = 0) -> None:
        self.close()
        if not self.enabled:
            return
        from tqdm import tqdm

        with self._lock:
            self._files, self._files_total = 0, files
            self._bar = tqdm(
                total=total,
                desc=f"{name:<8}",
                unit=unit,
                unit_scale=unit == "B",
                unit_divisor=1024,
                file=self.stream,
                dynamic_ncols=True,
                smoothing=0.1,
                mininterval=0.2,
                leave=True,
            )
            if files:
                self._bar.set_postfix_str(f"files 0/{files}")

    def advance(self, amount: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(amount)

    def file_done(self, path: str) -> None:
        with self._lock:
            self._files += 1
            if self._bar is not None and self._files_total:
                self._bar.set_postfix_str(f"files {self._files}/{self._files_total}", refresh=False)

    def note(self, message: str) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        with self._lock:
            tqdm.write(message, file=self.stream)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def _reporter(args: argparse.Namespace) -> BarReporter:
    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    return BarReporter(enabled=bool(enabled) and not args.quiet)


# --- Commands ----------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    config = read_json_file(config_path())
    server = args.server or os.environ.get("OPENEM_URL") or config.get("server") or ""
    if not server and sys.stdin.isatty():
        server = input("Portal URL (e.g. https://openem.example.org): ").strip()
    if not server:
        raise UsageError("give the portal's address: openem login --server URL")
    token = args.token
    if not token:
        prompt = "API token (from your profile page): "
        token = getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline()
    token = (token or "").strip()
    if not token:
        raise UsageError("no token given")
    client = Client(server, token, retry=RetryPolicy(attempts=args.retries))
    _OPEN_CLIENTS.append(client)
    client.whoami_check()  # raises AuthenticationError with the server's reason
    write_private_json(config_path(), {"server": client.server, "token": token})
    err(f"Logged in to {client.server}; settings saved in {config_path()}")
    return EXIT_OK


def cmd_logout(args: argparse.Namespace) -> int:
    path = config_path()
    config = read_json_file(path)
    if config.pop("token", None) is None:
        err("No token was saved.")
        return EXIT_OK
    write_private_json(path, config)
    err(f"Token removed from {path} (revoke it on your profile page if it may have leaked).")
    return EXIT_OK


def cmd_version(args: argparse.Namespace) -> int:
    """The client's version, and the portal's API version when a server is configured."""
    info: dict[str, Any] = {"client": __version__, "client_api": API_MAJOR}
    config = read_json_file(config_path())
    if args.server or os.environ.get("OPENEM_URL") or config.get("server"):
        client = make_client(args)
        portal = client.api_info()
        info.update(
            server=client.server,
            api_version=portal.get("api_version"),
            min_client_version=portal.get("min_client_version"),
        )
    if args.json:
        emit_json(info)
        return EXIT_OK
    out(f"openem-client {__version__} (API {API_MAJOR})")
    if "server" in info:
        out(
            f"{info['server']}: API {info['api_version']}, "
            f"works with openem-client {info['min_client_version']} or later"
        )
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    client = make_client(args)
    filters = {
        "technique": args.technique,
        "facility": args.facility,
        "status": args.status,
        "keyword": args.keyword,
    }
    found = list(client.search(args.query or "", limit=args.limit, **filters))
    if args.json:
        emit_json(found)
        return EXIT_OK
    if not found:
        err("No datasets found.")
        return EXIT_OK
    for dataset in found:
        out(
            f"{dataset['pid']:<15}  {dataset['technique']:<12}  {dataset['status']:<9}  "
            f"{dataset['title']}"
        )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    dataset = make_client(args).dataset(args.dataset)
    if args.json:
        emit_json(dataset)
        return EXIT_OK
    facility = dataset.get("facility") or {}
    instrument = dataset.get("instrument") or {}
    project = dataset.get("project") or {}
    rows = [
        ("PID", dataset["pid"]),
        ("Title", dataset["title"]),
        ("Landing page", dataset.get("html_url", "")),
        ("Facility", facility.get("name", "")),
        ("Instrument", instrument.get("name", "")),
        ("Project", project.get("title", "")),
        ("Technique", dataset.get("technique", "")),
        ("Kind", dataset.get("kind", "")),
        ("Status", dataset.get("status", "")),
        ("Visibility", dataset.get("visibility", "")),
        ("Embargo until", dataset.get("embargo_until") or ""),
        ("Files open", "yes" if dataset.get("files_open") else "no"),
        ("Keywords", ", ".join(dataset.get("keywords") or [])),
        ("Licence", dataset.get("licence", "")),
        ("EMDB", ", ".join(dataset.get("emdb_ids") or [])),
        ("EMPIAR", dataset.get("empiar_id") or ""),
        ("Created", dataset.get("created", "")),
        ("Files", dataset.get("files_url", "")),
        ("Manifest", dataset.get("manifest_url", "")),
    ]
    for label, value in rows:
        if value:
            out(f"{label + ':':<15}{value}")
    if dataset.get("description"):
        out()
        out(dataset["description"])
    return EXIT_OK


def cmd_files(args: argparse.Namespace) -> int:
    files = make_client(args).files(
        args.dataset,
        prefix=args.prefix or "",
        state=args.state or "",
        file_format=args.format or "",
    )
    if args.json:
        # Streamed: a dataset may hold a million files.
        sys.stdout.write("[")
        for index, datafile in enumerate(files):
            sys.stdout.write(("," if index else "") + "\n  " + json.dumps(datafile))
        sys.stdout.write("\n]\n")
        return EXIT_OK
    count = total = 0
    for datafile in files:
        count += 1
        total += int(datafile["size"])
        out(f"{human_size(int(datafile['size'])):>10}  {datafile['state']:<10}  {datafile['path']}")
    err(f"{count} files, {human_size(total)}")
    return EXIT_OK


def cmd_manifest(args: argparse.Namespace) -> int:
    text = make_client(args).manifest(
        args.dataset, manifest_format=args.format, prefix=args.prefix or ""
    )
    if args.output:
        Path(args.output).write_text(text)
        err(f"Manifest written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _print_status(status: dict[str, Any]) -> None:
    by_state = ", ".join(f"{n} {state}" for state, n in status["files_by_state"].items() if n)
    out(
        f"Upload session {status['session']} of {status['dataset']} ({status['session_state']}); "
        f"dataset {status['dataset_status']}"
    )
    out(
        f"Files: {status['files_total']} ({by_state or 'none'}); "
        f"{human_size(status['bytes_done'])} of {human_size(status['bytes_total'])} ingested"
    )
    for failed in status.get("failed_files") or []:
        out(f"  failed: {failed['path']}: {failed['error']}")
    if status["files_failed"] > len(status.get("failed_files") or []):
        out(f"  ... and {status['files_failed'] - len(status['failed_files'])} more failed files")


def cmd_status(args: argparse.Namespace) -> int:
    client = make_client(args, need_token=True)
    if args.wait:
        status = wait_for_ingest(
            client, args.session, reporter=_reporter(args), interval=args.interval
        )
    else:
        status = client.upload_status(args.session)
    if args.json:
        emit_json(status)
    else:
        _print_status(status)
    return EXIT_INGEST if status["files_failed"] else EXIT_OK


def _state_key(client: Client, folder: Path) -> str:
    return f"{client.server} {folder.resolve()}"


def _dataset_for_upload(args: argparse.Namespace, client: Client) -> tuple[str, bool]:
    """The PID to upload into, and whether it was created by an ``--new`` of this folder."""
    if args.dataset:
        return args.dataset, False
    missing = [flag for flag in ("title", "facility", "technique") if not getattr(args, flag)]
    if missing:
        raise UsageError(
            "--new needs " + ", ".join(f"--{flag}" for flag in missing) + " (or use --dataset)"
        )
    state = read_json_file(state_path())
    key = _state_key(client, Path(args.folder))
    earlier = state.get(key)
    if earlier:
        try:
            client.dataset(earlier)
        except NotFound:
            pass
        else:
            err(
                f"Resuming the upload of this folder into {earlier}, created by an earlier "
                "`openem upload --new` (use --dataset to choose another dataset)."
            )
            return str(earlier), True
    dataset = client.create_dataset(
        title=args.title,
        facility=args.facility,
        technique=args.technique,
        instrument=args.instrument,
        project=args.project,
        description=args.description,
        keywords=args.keyword or None,
    )
    state[key] = dataset["pid"]
    write_private_json(state_path(), state)
    err(f"Created dataset {dataset['pid']}: {dataset.get('html_url', '')}")
    return str(dataset["pid"]), True


def _forget_new_upload(client: Client, folder: Path) -> None:
    state = read_json_file(state_path())
    if state.pop(_state_key(client, folder), None) is not None:
        write_private_json(state_path(), state)


def cmd_upload(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder")
    client = make_client(args, need_token=True)
    pid, created_here = _dataset_for_upload(args, client)
    reporter = _reporter(args)
    try:
        report = upload_directory(
            client,
            folder,
            pid=pid,
            reporter=reporter,
            parallel=args.parallel,
            checksum=not args.no_checksum,
            exclude=args.exclude or (),
            stop_after_parts=args.stop_after_parts,
        )
    except TransferStopped as exc:
        if args.json:
            emit_json({"stopped": True, "dataset": pid, "message": exc.message})
        raise
    status = None
    if report.session_completed:
        if created_here:
            _forget_new_upload(client, folder)
        if args.wait:
            status = wait_for_ingest(
                client, report.session, reporter=reporter, interval=args.interval
            )
        else:
            status = client.upload_status(report.session)
    if args.json:
        emit_json({"upload": report.as_dict(), "ingest": status})
    else:
        out(
            f"Uploaded {report.files_uploaded} files ({human_size(report.bytes_uploaded)}) into "
            f"{pid}, upload session {report.session}; {report.files_skipped} were there already."
        )
        if report.parts_skipped:
            out(f"Resumed: {report.parts_skipped} parts were already on the server.")
        if status is not None:
            _print_status(status)
            if not status["settled"]:
                out(f"Ingest goes on: `openem status {report.session} --wait` follows it.")
    for problem in report.problems:
        err(f"openem: error: {problem['path']}: {problem['message']}")
    if report.problems:
        err(
            f"openem: {len(report.problems)} files were not uploaded; the session stays open: "
            "fix them and run the same command again"
        )
        return EXIT_TRANSFER
    if status is not None and args.wait and status["files_failed"]:
        return EXIT_INGEST
    return EXIT_OK


def cmd_download(args: argparse.Namespace) -> int:
    client = make_client(args)
    report = download_dataset(
        client,
        args.dataset,
        Path(args.to),
        include=args.include or (),
        reporter=_reporter(args),
        parallel=args.parallel,
        version=args.version,
        **({"segment_size": args.segment_size} if args.segment_size else {}),
    )
    if args.json:
        emit_json(report.as_dict())
    else:
        out(
            f"Downloaded {report.downloaded_files} file{'' if report.downloaded_files == 1 else 's'}"
            f" ({human_size(report.downloaded_bytes)}) "
            f"into {args.to}; {report.skipped_files} were there already; "
            f"{report.verified_files} of {report.files} verified against the manifest."
        )
        if report.resumed_files:
            out(f"Resumed {report.resumed_files} partial downloads.")
    for path in report.unverified:
        err(f"openem: warning: {path}: no checksum in the manifest yet (ingest not finished?)")
    for problem in report.mismatches + report.failed:
        err(f"openem: error: {problem['message']}")
    if report.mismatches or report.failed:
        bad = len(report.mismatches) + len(report.failed)
        err(f"openem: {bad} of {report.files} files are missing or do not match the manifest")
        return EXIT_TRANSFER
    return EXIT_OK


WATCH_HELP = """\
watch follows DIR (a session folder, or a folder of session folders: EPU's
EpuSession.dm / Images-Disc*, SerialEM's .mdoc files, Tomo5's TomoSession.dm or
Batch/) and uploads every file once it is complete, into one dataset per session.
A file is complete when its size and modification time have not changed for
--stable (or for one pass once its .xml/.mdoc sidecar is written). What was sent
is kept in a SQLite state database (--state-db), so a restarted agent never reads
an uploaded file again and resumes what it had begun. A session is finished when
a --finish-marker file appears in it or no new file came for --finish-after: its
upload session is closed and the portal aggregates the metadata.

watch exit status: 0 stopped (SIGTERM/SIGINT) or --once pass done; 2 bad command
line, unreadable DIR, unknown facility or instrument; 3 token refused or without
the right to upload there; 6 (--once only) the portal could not be reached (the
agent retries, with backoff, while it runs); 7 (--once) some files could not be
sent; 10 state database damaged.
"""


def _duration(text: str) -> float:
    """``30``, ``30s``, ``10m``, ``4h``, ``1d`` -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    factor = units.get(text[-1:])
    number = text[:-1] if factor else text
    try:
        value = float(number) * (factor or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 10m, 4h") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _rate(text: str) -> float:
    """``20M`` (MB/s), ``500K``, ``1G``, or bytes per second -> bytes per second."""
    units = {"k": 1e3, "m": 1e6, "g": 1e9}
    text = text.strip().lower().removesuffix("/s").removesuffix("b")
    factor = units.get(text[-1:])
    try:
        value = float(text[:-1] if factor else text) * (factor or 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate like 50M (MB/s)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def watch_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "openem" / "watch.sqlite3"


_WATCH_HANDLERS: list[Any] = []


def _watch_logging(args: argparse.Namespace) -> None:
    import logging
    import logging.handlers

    log = logging.getLogger("openem_client")
    for handler in _WATCH_HANDLERS:  # an earlier run in this process (tests)
        log.removeHandler(handler)
        handler.close()
    _WATCH_HANDLERS.clear()
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    form = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    if not args.quiet:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(form)
        _WATCH_HANDLERS.append(stream)
    if args.log_file:
        Path(args.log_file).parent.mkdir(parents=True, exist_ok=True)
        rotating = logging.handlers.RotatingFileHandler(
            args.log_file,
            maxBytes=int(args.log_max_mb * 1024 * 1024),
            backupCount=args.log_backups,
            encoding="utf-8",
        )
        rotating.setFormatter(form)
        _WATCH_HANDLERS.append(rotating)
    for handler in _WATCH_HANDLERS:
        log.addHandler(handler)


class _Terminated(Exception):
    """SIGTERM (systemd stopping the service): stop between two requests."""


def cmd_watch(args: argparse.Namespace) -> int:
    import logging
    import signal

    from openem_client.watch import StateDB, UnknownTarget, WatchConfig, Watcher

    root = Path(args.folder)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder")
    if not os.access(root, os.R_OK | os.X_OK):
        raise UsageError(f"{root} cannot be read (permissions)")
    _watch_logging(args)
    log = logging.getLogger("openem_client.watch")
    client = make_client(args, need_token=True)
    try:
        state = StateDB(Path(args.state_db) if args.state_db else watch_state_path())
    except OpenEMError as exc:
        err(f"openem: error: {exc.message}")
        return EXIT_STATE
    config = WatchConfig(
        root=root,
        facility=args.facility,
        instrument=args.instrument,
        project=args.project or "",
        technique=args.technique or "",
        stable_seconds=args.stable,
        poll_seconds=args.interval,
        finish_after=args.finish_after,
        finish_markers=tuple(args.finish_marker or ()),
        include=tuple(args.include or ()),
        exclude=tuple(args.exclude or ()) + (() if args.frames else ("Frames/*", "*/Frames/*")),
        bandwidth=args.bandwidth,
        parallel=args.parallel,
        checksum=True,
    )
    watcher = Watcher(client, state, config)

    def terminate(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        try:
            watcher.check_target()
        except UnknownTarget as exc:
            raise UsageError(exc.message) from None
        log.info("watching %s for %s (instrument %s)", root, args.facility, args.instrument)
        if args.once:
            report = watcher.run_pass()
            log.info(
                "pass done: %d sessions, %d files uploaded, %d waiting to be complete",
                report.sessions,
                report.uploaded,
                report.waiting,
            )
            return EXIT_TRANSFER if report.problems else EXIT_OK
        failures = 0
        while True:
            try:
                watcher.run_pass()
                failures = 0
            except (NetworkError, ServerError, Throttled, TransferError) as exc:
                failures += 1
                delay = min(300.0, args.interval * 2 ** min(failures, 6))
                log.warning("%s; trying again in %.0f s", exc.message, delay)
                time.sleep(delay)
                continue
            except OSError as exc:
                failures += 1
                log.warning("cannot read the folder: %s; trying again", exc)
            time.sleep(args.interval)
    except (_Terminated, KeyboardInterrupt):
        log.info("stopped; run again to go on (nothing is sent twice)")
        return EXIT_OK
    finally:
        signal.signal(signal.SIGTERM, previous)
        state.close()


# --- Argument parsing ---------------------------------------------------------------------------


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: given before or after the command, the flag is kept, never reset to None.
    connection.add_argument(
        "--server", default=argparse.SUPPRESS, help="portal URL (else OPENEM_URL, config file)"
    )
    connection.add_argument(
        "--token", default=argparse.SUPPRESS, help="API token (else OPENEM_TOKEN, config file)"
    )
    connection.add_argument(
        "--retries",
        type=_positive,
        default=argparse.SUPPRESS,
        help="attempts per request on network errors, 429 and 5xx, with backoff (5)",
    )
    connection.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars"
    )
    connection.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="progress bars on stderr (default: when it is a terminal)",
    )
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="print JSON, for scripts")

    parser = argparse.ArgumentParser(
        prog="openem",
        description="The OpenEM portal from the command line: search, upload, download.",
        epilog=EXAMPLES + "\n" + EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[connection],
    )
    parser.add_argument("--version", action="version", version=f"openem-client {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str, **kw: Any
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[connection, *kw.pop("parents", [])],
            epilog=EXIT_STATUS_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kw,
        )
        sub.set_defaults(handler=handler)
        return sub

    command("login", cmd_login, "save the server and an API token (checked first)")
    command("logout", cmd_logout, "forget the saved API token")
    command(
        "version",
        cmd_version,
        "the client's version, and the portal's API version",
        parents=[json_flag],
    )

    search = command("search", cmd_search, "search datasets", parents=[json_flag])
    search.add_argument("query", nargs="?", default="", help="words to find")
    search.add_argument("--technique", help="spa, tomography, subtomo, microed, ...")
    search.add_argument("--facility", help="facility slug")
    search.add_argument("--status", help="draft, ingesting, ready, published")
    search.add_argument("--keyword", help="a keyword the datasets carry")
    search.add_argument("--limit", type=_positive, default=50, help="at most this many (50)")

    show = command("show", cmd_show, "show a dataset", parents=[json_flag])
    show.add_argument("dataset", metavar="DATASET", help="dataset PID, e.g. oem-7k2m9q4x1z")

    files = command("files", cmd_files, "list a dataset's files", parents=[json_flag])
    files.add_argument("dataset", metavar="DATASET")
    files.add_argument("--prefix", help="only paths starting with this, e.g. Images-Disc1/")
    files.add_argument("--state", help="registered, stored, processing, ready, failed")
    files.add_argument("--format", help="file format: mrc, tiff, eer, ...")

    manifest = command("manifest", cmd_manifest, "print a dataset's checksum manifest")
    manifest.add_argument("dataset", metavar="DATASET")
    manifest.add_argument("--format", choices=["sha256sum", "json", "jsonl"], default="sha256sum")
    manifest.add_argument("--prefix", help="only paths starting with this")
    manifest.add_argument("-o", "--output", help="write to this file instead of stdout")

    status = command(
        "status", cmd_status, "ingest status of an upload session", parents=[json_flag]
    )
    status.add_argument("session", type=_positive, metavar="SESSION", help="upload session id")
    status.add_argument("--wait", action="store_true", help="wait until every file is settled")
    status.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)

    upload = command(
        "upload",
        cmd_upload,
        "upload a folder into a dataset (resumes an interrupted upload)",
        parents=[json_flag],
    )
    upload.add_argument("folder", metavar="DIR", help="the folder to upload, with its sub-folders")
    target = upload.add_mutually_exclusive_group(required=True)
    target.add_argument("--dataset", metavar="ID", help="PID of an existing dataset")
    target.add_argument("--new", action="store_true", help="create a dataset for the folder")
    upload.add_argument("--title", help="--new: the dataset's title")
    upload.add_argument("--facility", help="--new: facility slug")
    upload.add_argument("--technique", help="--new: spa, tomography, ...")
    upload.add_argument("--instrument", type=int, help="--new: instrument id")
    upload.add_argument("--project", help="--new: project code")
    upload.add_argument("--description", help="--new: description")
    upload.add_argument("--keyword", action="append", help="--new: a keyword (repeatable)")
    upload.add_argument(
        "--exclude", action="append", metavar="GLOB", help="skip matching paths (repeatable)"
    )
    upload.add_argument(
        "--parallel", type=_positive, default=8, help="parts and files in flight (8)"
    )
    upload.add_argument(
        "--no-checksum",
        action="store_true",
        help="do not send SHA-256s (ingest then cannot check the bytes against yours)",
    )
    upload.add_argument("--wait", action="store_true", help="wait for ingest to finish")
    upload.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    # Testing aid: behave as if interrupted after N parts or chunks.
    upload.add_argument("--stop-after-parts", type=_positive, help=argparse.SUPPRESS)

    download = command(
        "download",
        cmd_download,
        "download a dataset's files, verified against its manifest (resumable)",
        parents=[json_flag],
    )
    download.add_argument("dataset", metavar="DATASET")
    download.add_argument("--to", required=True, metavar="DIR", help="destination folder")
    download.add_argument(
        "--include", action="append", metavar="GLOB", help="only matching paths (repeatable)"
    )
    download.add_argument(
        "--parallel", type=_positive, default=8, help="files and ranges in flight (8)"
    )
    download.add_argument(
        "--version",
        type=_positive,
        metavar="N",
        help="the files of published version N, as frozen (default: the latest)",
    )
    # Testing aid: files over twice this size come in parallel ranges of this size.
    download.add_argument("--segment-size", type=_positive, help=argparse.SUPPRESS)

    watch = command(
        "watch",
        cmd_watch,
        "follow session folders while they are acquired and upload each complete file",
    )
    watch.epilog = WATCH_HELP + "\n" + EXIT_STATUS_HELP
    watch.add_argument("folder", metavar="DIR", help="a session folder, or a folder of them")
    watch.add_argument("--facility", required=True, help="facility slug")
    watch.add_argument("--instrument", required=True, help="instrument id or name")
    watch.add_argument("--project", help="project code of the datasets")
    watch.add_argument("--technique", help="spa, tomography, ... (default: by session kind)")
    watch.add_argument(
        "--stable",
        type=_duration,
        default=30.0,
        metavar="TIME",
        help="a file is complete when unchanged this long (30s)",
    )
    watch.add_argument(
        "--interval",
        type=_duration,
        default=10.0,
        metavar="TIME",
        help="time between two passes over the folder (10s)",
    )
    watch.add_argument(
        "--finish-after",
        type=_duration,
        default=4 * 3600.0,
        metavar="TIME",
        help="a session is finished after this long without a new file (4h)",
    )
    watch.add_argument(
        "--finish-marker",
        action="append",
        metavar="NAME",
        help="a file whose presence in a session folder finishes it (repeatable)",
    )
    watch.add_argument(
        "--include", action="append", metavar="GLOB", help="only matching paths (repeatable)"
    )
    watch.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="skip matching paths (repeatable; *.tmp and *.part are always skipped)",
    )
    watch.add_argument(
        "--frames",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="upload the fractions in Frames/ folders (default: yes)",
    )
    watch.add_argument("--bandwidth", type=_rate, metavar="RATE", help="at most this, e.g. 50M")
    watch.add_argument("--parallel", type=_positive, default=4, help="parts in flight (4)")
    watch.add_argument("--once", action="store_true", help="one pass, then exit (for cron)")
    watch.add_argument("--state-db", metavar="PATH", help=f"state database ({watch_state_path()})")
    watch.add_argument("--log-file", metavar="PATH", help="also log to this file, rotated")
    watch.add_argument("--log-max-mb", type=float, default=10.0, help="rotate at this size (10)")
    watch.add_argument("--log-backups", type=int, default=5, help="rotated logs kept (5)")
    watch.add_argument("-v", "--verbose", action="store_true", help="log every file")
    return parser


def _details_lines(details: Any, limit: int = 20) -> Iterable[str]:
    if isinstance(details, list):
        for item in details[:limit]:
            if isinstance(item, dict) and "message" in item:
                where = item.get("path") or (f"entry {item['index']}" if "index" in item else "")
                yield f"  - {where}: {item['message']}" if where else f"  - {item['message']}"
            else:
                yield f"  - {item}"
        if len(details) > limit:
            yield f"  ... and {len(details) - limit} more"
    elif isinstance(details, dict):
        for key, value in list(details.items())[:limit]:
            yield f"  - {key}: {value}"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `openem ... | head`: the reader has gone; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed by argparse
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    defaults = {"server": None, "token": None, "quiet": False, "progress": None, "retries": 5}
    for name, default in defaults.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        return _run(args)
    finally:
        while _OPEN_CLIENTS:
            _OPEN_CLIENTS.pop().close()


def _run(args: argparse.Namespace) -> int:
    """The command's exit status; every error becomes a message on stderr, never a traceback."""
    try:
        return int(args.handler(args))
    except UsageError as exc:
        err(f"openem: error: {exc}")
        return EXIT_USAGE
    except IncompatibleClient as exc:
        err(f"openem: {exc.message}")
        return EXIT_INCOMPATIBLE
    except AuthenticationError as exc:
        err(f"openem: authentication failed: {exc.message}")
        return EXIT_AUTH
    except PermissionDenied as exc:
        err(f"openem: not allowed: {exc.message}")
        return EXIT_AUTH
    except NotFound as exc:
        err(f"openem: not found: {exc.message}")
        return EXIT_NOT_FOUND
    except (ValidationError, Conflict) as exc:
        err(f"openem: the server refused the request: {exc.message}")
        for line in _details_lines(exc.details):
            err(line)
        return EXIT_REFUSED
    except (NetworkError, ServerError, Throttled) as exc:
        err(f"openem: {exc.message}")
        return EXIT_NETWORK
    except (TransferError, ChecksumMismatch) as exc:
        err(f"openem: {exc.message}")
        return EXIT_TRANSFER
    except TransferStopped as exc:
        err(f"openem: {exc.message}")
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        err("openem: interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    except OpenEMError as exc:
        err(f"openem: error: {exc.message}")
        return EXIT_ERROR
    except BrokenPipeError:
        raise  # not an error of the command: main() ends quietly
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        err(f"openem: error: {exc.strerror or exc}{where}")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

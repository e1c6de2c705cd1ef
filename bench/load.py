"""A load test: ``--users`` (50) concurrent users for ``--duration`` (60 s), driven by locust
(headless, ``bench/locustfile.py``) against the portal served by gunicorn with the production
settings, all on loopback:

- gunicorn (``gunicorn.conf.py``: ``--web-workers`` x ``--web-threads``), a real Celery worker,
  PostgreSQL (a database of the run's own, made afresh), a Redis server and a SeaweedFS of
  its own (the S3 store; downloads are presigned redirects to it, the upload's part goes
  straight to it);
- the production values of README "Production settings" (an https site, HSTS, secure
  cookies, the HTTPS redirect) behind a loopback "proxy": locust sends what a TLS-terminating
  proxy adds, ``X-Forwarded-Proto: https`` and one ``X-Forwarded-For`` address per simulated
  user (``OPENEM_API_NUM_PROXIES=1``), so the API's throttles stay on, per client as in
  production;
- seeded: ``--load-datasets`` public datasets (300), one of ``--load-files`` files (5,000) in
  folders, stored objects to download, API tokens for a few users, a draft dataset for the
  one upload session (create, register, presigned part PUT to S3, complete; then ingested by
  the worker).

Figures: requests, failures, p50/p95/p99 per endpoint, requests per second, the peak number of
PostgreSQL connections during the run (``pg_stat_activity``: the portal's database and the
whole server, against ``max_connections``), that plain HTTP is redirected to HTTPS, whether the
upload was ingested, and ``manage.py check --deploy`` with the same settings. Goal: 0 errors.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench load
    DATABASE_URL=... python -m bench load --users 5 --duration 10 --load-datasets 30   # smoke

Needs ``DATABASE_URL=postgres://...`` (its server gets the database ``--load-database``,
dropped and created afresh) and ``redis-server`` on the PATH; never touches the shared Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    OwnServices,
    free_port,
    fresh_postgres_database,
    process_cpu_seconds,
    wait_for_port,
)

NAME = "load"
BENCH_DATABASE = "openem_bench_load"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
#: The endpoint classes the run must hit (locust request names start with these).
ENDPOINT_CLASSES = (
    "page: search",
    "page: landing",
    "page: file browser",
    "page: download",
    "api: search",
    "api: dataset",
    "api: file list",
    "api: download",
    "api: tokens",
    "s3: GET",
    "upload: session create",
    "upload: register files",
    "upload: multipart start",
    "s3: PUT part",
    "upload: multipart complete",
    "upload: session complete",
)
FOLDER_FILES = 250  # files per folder of the many-files dataset
STORED_BIG = 200  # of its files, how many have bytes in S3 (the downloads' choice)
STORED_SMALL_DATASETS = 50  # small datasets with 3 stored files each
APPLICATION_WEB = "openem-bench-load-web"
APPLICATION_WORKER = "openem-bench-load-worker"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=50, help="load: concurrent users (50)")
    parser.add_argument("--duration", type=int, default=60, help="load: seconds of load (60)")
    parser.add_argument(
        "--spawn-rate", type=float, default=10.0, help="load: users started per second (10)"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=2.5,
        help="load: longest pause between a user's steps, in seconds (2.5; the shortest is a "
        "fifth of it)",
    )
    parser.add_argument(
        "--load-datasets", type=int, default=300, help="load: public datasets seeded (300)"
    )
    parser.add_argument(
        "--load-files", type=int, default=5000, help="load: files of the big dataset (5000)"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="load: gunicorn workers (2)")
    parser.add_argument(
        "--web-threads", type=int, default=4, help="load: gunicorn threads per worker (4)"
    )
    parser.add_argument(
        "--worker-concurrency", type=int, default=1, help="load: Celery worker processes (1)"
    )
    parser.add_argument(
        "--load-database",
        default=BENCH_DATABASE,
        help=f"load: the database made afresh for the run ({BENCH_DATABASE})",
    )


# --- Environment (before Django is set up) -------------------------------------------------------


class Services(OwnServices):
    """This run's own Redis and SeaweedFS, and the gunicorn port."""

    def __init__(self, workdir: Path):
        super().__init__(workdir, "load")
        self.port = free_port()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


#: Set by a test harness in its own process (the browser tests' Playwright needs it), never
#: part of a deployment: `check --deploy` refuses it (async.E001).
NOT_IN_A_DEPLOYMENT = ("DJANGO_ALLOW_ASYNC_UNSAFE",)


def deployment_env() -> dict[str, str]:
    """This process's environment for the portal's processes, without what a test run set."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PYTEST") and k not in NOT_IN_A_DEPLOYMENT
    }


def production_env(port: int) -> dict[str, str]:
    """README "Production settings", for a site at https://127.0.0.1:<port> behind a proxy
    that sets X-Forwarded-Proto and appends the client's address to X-Forwarded-For."""
    site = f"https://127.0.0.1:{port}"
    return {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "OPENEM_PUBLIC_DEPLOYMENT": "true",
        "OPENEM_SITE_URL": site,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_CSRF_TRUSTED_ORIGINS": site,
        "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "DJANGO_SECURE_HSTS_PRELOAD": "true",
        "OPENEM_API_NUM_PROXIES": "1",
        "DJANGO_DEBUG": "false",
    }


def prepare_environment(args: argparse.Namespace) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("load: set DATABASE_URL=postgres://user@host:5432/anydb")
    workdir = Path(tempfile.mkdtemp(prefix="openem-bench-load-"))
    services = Services(workdir)
    args.load_services = services
    os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, args.load_database)
    os.environ["OPENEM_DATA_DIR"] = str(workdir / "var")
    os.environ["REDIS_URL"] = services.redis.url
    os.environ["CELERY_BROKER_URL"] = services.redis.url
    for name in ("CELERY_BROKER_KEY_PREFIX", "CELERY_RESULT_BACKEND", "OPENEM_STORAGE_ROOT"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "S3_BUCKET": services.bucket,
            "S3_ENDPOINT_URL": services.weed.endpoint_url,
            "S3_ACCESS_KEY_ID": services.weed.access_key,
            "S3_SECRET_ACCESS_KEY": services.weed.secret_key,
            "S3_REGION": services.weed.region,
            **production_env(services.port),
        }
    )


# --- Seeding -------------------------------------------------------------------------------------


def _object(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def seed(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """The data the users browse, download and upload into; returns the locustfile's plan."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    import storage
    from bench.pipeline import templates
    from bench.web import SAMPLES, TECHNIQUES, WORDS, _metadata
    from repository import tokens
    from repository.models import (
        DataFile,
        Dataset,
        DatasetStatus,
        Facility,
        FacilityMembership,
        FacilityRole,
        FileState,
        Instrument,
        TokenScope,
        Visibility,
    )
    from repository.services import dataset_create

    rng = random.Random(20261203)
    store = storage.get_store()
    users = get_user_model().objects
    facility = Facility.objects.create(name="Load facility", slug="bench-load")
    instrument = Instrument.objects.create(
        facility=facility, name="Krios L", manufacturer="Thermo Fisher Scientific", model="Krios"
    )
    staff = users.create(username="load-staff")
    FacilityMembership.objects.create(user=staff, facility=facility, role=FacilityRole.STAFF)
    readers = [users.create(username=f"load-reader-{i}") for i in range(4)]
    read_tokens = [
        tokens.token_create(user=reader, name="load", scope=TokenScope.READ)[1]
        for reader in readers
    ]
    _, upload_token = tokens.token_create(user=staff, name="load", scope=TokenScope.READ_WRITE)

    now = timezone.now()
    datasets = []
    for index in range(args.load_datasets):
        technique = rng.choice(TECHNIQUES)
        sample = rng.choice(SAMPLES)
        datasets.append(
            Dataset(
                title=f"{sample.capitalize()} {' '.join(rng.sample(WORDS, 4))} #{index}",
                description=" ".join(rng.choices(WORDS, k=30)) + f" Sample: {sample}.",
                technique=technique,
                facility=facility,
                instrument=instrument,
                owner=staff,
                keywords=[sample, technique],
                visibility=Visibility.PUBLIC,
                status=DatasetStatus.PUBLISHED,
                metadata=_metadata(rng, technique),
                published_at=now,
            )
        )
    big = Dataset(
        title=f"Load session with {args.load_files} files",
        description="One EPU session in folders, for the file browser and listings.",
        technique="spa",
        facility=facility,
        instrument=instrument,
        owner=staff,
        keywords=["benchmark"],
        visibility=Visibility.PUBLIC,
        status=DatasetStatus.PUBLISHED,
        metadata=_metadata(rng, "spa"),
        published_at=now,
    )
    Dataset.objects.bulk_create([*datasets, big], batch_size=500)

    files: list[DataFile] = []
    contents: dict[str, bytes] = {}

    def add(dataset: Dataset, directory: str, name: str, stored: bool) -> None:
        key = storage.object_key("datasets", dataset.pid, "files", uuid.uuid4().hex)
        data = _object(rng, rng.randint(4, 64) * 1024) if stored else b""
        size = len(data) if stored else rng.randint(100_000_000, 400_000_000)
        digest = hashlib.sha256(data).hexdigest() if stored else f"{len(files):064x}"
        files.append(
            DataFile(
                dataset=dataset,
                path=f"{directory}/{name}",
                directory=directory,
                name=name,
                size=size,
                storage_key=key,
                format="eer",
                checksum_sha256=digest,
                state=FileState.READY,
            )
        )
        if stored:
            contents[key] = data

    stored_every = max(1, args.load_files // STORED_BIG)
    folders = []
    for number in range(args.load_files):
        folder = f"Images-Disc1/GridSquare_{number // FOLDER_FILES:03d}/Data"
        if not folders or folders[-1] != folder:
            folders.append(folder)
        add(big, folder, f"FoilHole_{number:06d}_Data_EER.eer", number % stored_every == 0)
    for dataset in datasets[:STORED_SMALL_DATASETS]:
        for item in range(3):
            add(dataset, "Movies", f"movie_{item}.eer", True)
    DataFile.objects.bulk_create(files, batch_size=2000)
    for key, data in contents.items():
        store.put(key, data)
    downloads = [
        [row.dataset.pid, row.pk] for row in files if row.storage_key in contents
    ]  # (pid, file id) of the files with bytes

    # The upload session's files: one of each kind a session holds (small).
    target = dataset_create(
        actor=staff, facility=facility, technique="spa", title="Load test upload"
    )
    upload_dir = workdir / "upload"
    upload_dir.mkdir()
    upload_files = []
    for index, (pattern, data) in enumerate(templates()):
        path = pattern.format(i=index)
        local = upload_dir / f"{index}.bin"
        local.write_bytes(data)
        upload_files.append(
            {"path": path, "local": str(local), "sha256": hashlib.sha256(data).hexdigest()}
        )
    words = sorted({word for sample in SAMPLES for word in sample.split()})
    return {
        "datasets": [d.pid for d in datasets],
        "big": big.pid,
        "folders": folders,
        "downloads": downloads,
        "read_tokens": read_tokens,
        "upload_token": upload_token,
        "upload_dataset": target.pid,
        "upload_files": upload_files,
        "words": words,
        "counts": {
            "datasets": len(datasets) + 1,
            "files": len(files),
            "stored_objects": len(contents),
            "tokens": len(read_tokens) + 1,
        },
    }


# --- Processes -----------------------------------------------------------------------------------


def _child_env(application_name: str) -> dict[str, str]:
    env = deployment_env()
    env["DJANGO_SETTINGS_MODULE"] = "openem.settings"
    separator = "&" if "?" in env["DATABASE_URL"] else "?"
    env["DATABASE_URL"] = f"{env['DATABASE_URL']}{separator}application_name={application_name}"
    return env


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_worker(args: argparse.Namespace, workdir: Path) -> subprocess.Popen[bytes]:
    return _start(
        [
            sys.executable, "-m", "celery", "-A", "openem", "worker",
            "-c", str(args.worker_concurrency), "-Q", "default,ingest,export",
            "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "-n", f"bench-load-{os.getpid()}@%h",
        ],
        _child_env(APPLICATION_WORKER), workdir / "worker.log",
    )  # fmt: skip


def wait_worker(process: subprocess.Popen[bytes], workdir: Path) -> None:
    log = workdir / "worker.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited; see {log}")
        if log.exists() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not start; see {log}")


def start_web(args: argparse.Namespace, services: Services) -> subprocess.Popen[bytes]:
    env = _child_env(APPLICATION_WEB)
    env["GUNICORN_WORKERS"] = str(args.web_workers)
    env["GUNICORN_THREADS"] = str(args.web_threads)
    log = services.workdir / "gunicorn.log"
    process = _start(
        [
            sys.executable, "-m", "gunicorn", "openem.wsgi:application",
            "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{services.port}",
            "--access-logfile", str(services.workdir / "access.log"),
            "--access-logformat", '%(s)s %(m)s "%(U)s" %(M)sms',
        ],
        env, log,
    )  # fmt: skip
    return process


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request without following redirects (urllib, no locust)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def wait_healthy(services: Services, timeout: float = 120.0) -> dict[str, Any]:
    """Until /health/ answers 200 (database, Redis, S3, the worker's heartbeat)."""
    deadline = time.monotonic() + timeout
    body: Any = None
    while time.monotonic() < deadline:
        status, _, raw = _get(f"{services.base_url}/health/", {"X-Forwarded-Proto": "https"})
        with contextlib.suppress(ValueError):
            body = json.loads(raw)
        if status == 200:
            return dict(body)
        time.sleep(1.0)
    raise RuntimeError(f"/health/ did not answer 200 within {timeout:.0f}s: {body}")


def proxy_check(services: Services) -> dict[str, Any]:
    """Plain HTTP (no X-Forwarded-Proto) is redirected to HTTPS; through the "proxy" the
    answer carries HSTS."""
    plain, plain_headers, _ = _get(f"{services.base_url}/datasets/", {})
    proxied, proxied_headers, _ = _get(
        f"{services.base_url}/datasets/", {"X-Forwarded-Proto": "https"}
    )
    return {
        "plain_http_status": plain,
        "plain_http_location": plain_headers.get("Location", ""),
        "proxied_status": proxied,
        "proxied_hsts": proxied_headers.get("Strict-Transport-Security", ""),
        "ok": plain == 301
        and plain_headers.get("Location", "").startswith("https://")
        and proxied == 200
        and "max-age=31536000" in proxied_headers.get("Strict-Transport-Security", ""),
    }


class ConnectionMonitor(threading.Thread):
    """Polls pg_stat_activity (its own connection, counted out) while the load runs."""

    def __init__(self, database_url: str, interval: float = 0.25):
        super().__init__(daemon=True)
        self.database_url = database_url
        self.interval = interval
        self.stop_event = threading.Event()
        self.peak_database = 0
        self.peak_server = 0
        self.peak_web = 0
        self.peak_worker = 0
        self.max_connections = 0
        self.samples = 0
        self.error = ""
        # CPU seconds of the web's PostgreSQL backends: (at first sight, last seen) per pid;
        # one born during the run started from 0.
        self.backend_cpu: dict[int, list[float]] = {}

    def run(self) -> None:
        import psycopg2

        try:
            connection = psycopg2.connect(self.database_url)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SHOW max_connections")
                self.max_connections = int(cursor.fetchone()[0])
                while not self.stop_event.is_set():
                    cursor.execute(
                        "SELECT count(*), "
                        "count(*) FILTER (WHERE datname = current_database()), "
                        "count(*) FILTER (WHERE application_name = %s), "
                        "count(*) FILTER (WHERE application_name = %s) "
                        "FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend'",
                        [APPLICATION_WEB, APPLICATION_WORKER],
                    )
                    server, database, web, worker = cursor.fetchone()
                    self.peak_server = max(self.peak_server, server)
                    self.peak_database = max(self.peak_database, database)
                    self.peak_web = max(self.peak_web, web)
                    self.peak_worker = max(self.peak_worker, worker)
                    cursor.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                        [APPLICATION_WEB],
                    )
                    for (pid,) in cursor.fetchall():
                        seconds = process_cpu_seconds(pid)
                        first = seconds if self.samples == 0 else 0.0
                        self.backend_cpu.setdefault(pid, [first, seconds])[1] = seconds
                    self.samples += 1
                    self.stop_event.wait(self.interval)
            connection.close()
        except Exception as exc:  # reported, not raised: the figures say it was not measured
            self.error = repr(exc)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)

    @property
    def web_backend_cpu_seconds(self) -> float:
        """Only where PostgreSQL runs on this machine (its processes' /proc); else 0."""
        return sum(last - first for first, last in self.backend_cpu.values())


def family_cpu_seconds(root: int) -> float:
    """CPU seconds so far of a process and its children (gunicorn's master and workers; the
    Celery worker's main and pool processes)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    family, changed = {root}, True
    while changed:
        grown = family | {pid for pid, parent in parents.items() if parent in family}
        changed, family = grown != family, grown
    return sum(process_cpu_seconds(pid) for pid in family)


def run_locust(args: argparse.Namespace, services: Services, plan_path: Path) -> Path:
    prefix = services.workdir / "locust"
    env = deployment_env()
    env["OPENEM_LOAD_PLAN"] = str(plan_path)
    env["OPENEM_LOAD_PAUSE"] = str(args.pause)
    log = services.workdir / "locust.log"
    with open(log, "wb") as out:
        result = subprocess.run(  # noqa: S603
            [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
                "--run-time", f"{args.duration}s", "--stop-timeout", "10",
                "--host", services.base_url, "--csv", str(prefix), "--only-summary",
                "--loglevel", "WARNING", "--exit-code-on-error", "0",
            ],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            timeout=args.duration + 180,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"locust exited with {result.returncode}; see {log}")
    return prefix


# --- Figures -------------------------------------------------------------------------------------


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def read_stats(prefix: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any], list[Any]]:
    """(per endpoint, aggregated, failures) from locust's CSV files."""
    endpoints: dict[str, dict[str, Any]] = {}
    total: dict[str, Any] = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            figures = {
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50_ms": _number(row["50%"]),
                "p95_ms": _number(row["95%"]),
                "p99_ms": _number(row["99%"]),
                "max_ms": round(_number(row["Max Response Time"]), 1),
                "rps": round(_number(row["Requests/s"]), 2),
            }
            if row["Name"] == "Aggregated":
                total = figures
            else:
                endpoints[row["Name"]] = figures
    failures = []
    with open(f"{prefix}_failures.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            failures.append(
                {
                    "name": row["Name"],
                    "error": row["Error"][:500],
                    "occurrences": int(row["Occurrences"]),
                }
            )
    return endpoints, total, failures


def server_errors(workdir: Path) -> int:
    """5xx answers in gunicorn's access log (locust counts them too; this is the server's
    own account) and tracebacks in its error log."""
    access = workdir / "access.log"
    count = 0
    if access.exists():
        count += sum(1 for line in access.read_text().splitlines() if line.startswith("5"))
    log = workdir / "gunicorn.log"
    if log.exists():
        count += log.read_text(errors="replace").count("Traceback")
    return count


def wait_ingested(dataset_pid: str, expected: int, timeout: float) -> dict[str, int]:
    from collections import Counter

    from repository.models import DataFile, FileState

    deadline = time.monotonic() + timeout
    states: Counter[str] = Counter()
    while time.monotonic() < deadline:
        states = Counter(
            DataFile.objects.filter(dataset__pid=dataset_pid).values_list("state", flat=True)
        )
        settled = states[FileState.READY] + states[FileState.FAILED]
        if expected and settled >= expected:
            break
        time.sleep(0.5)
    return dict(states)


def check_deploy(env_overrides: dict[str, str]) -> dict[str, Any]:
    env = deployment_env()
    env.update(env_overrides)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    lines = (result.stdout + result.stderr).strip().splitlines()
    return {"returncode": result.returncode, "output": lines[-1] if lines else ""}


def table(endpoints: dict[str, dict[str, Any]], total: dict[str, Any]) -> str:
    rows = [f"{'endpoint':<32} {'requests':>8} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} {'rps':>6}"]
    for name, row in sorted(endpoints.items()):
        rows.append(
            f"{name:<32} {row['requests']:>8} {row['failures']:>5} {row['p50_ms']:>7.0f} "
            f"{row['p95_ms']:>7.0f} {row['rps']:>6.1f}"
        )
    if total:
        rows.append(
            f"{'all':<32} {total['requests']:>8} {total['failures']:>5} {total['p50_ms']:>7.0f} "
            f"{total['p95_ms']:>7.0f} {total['rps']:>6.1f}"
        )
    return "\n".join(rows)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connections

    import storage

    services: Services = args.load_services
    workdir = services.workdir
    web = worker = None
    monitor: ConnectionMonitor | None = None
    try:
        started = time.monotonic()
        call_command("migrate", verbosity=0)
        storage.reset_store_cache()
        store = storage.get_store()
        assert isinstance(store, storage.S3Store)
        store.ensure_bucket()
        # The worker, gunicorn and check --deploy start while the data is seeded (nobody
        # requests anything before the load starts; check --deploy not during it: CPU).
        worker = start_worker(args, workdir)
        web = start_web(args, services)
        deploy: dict[str, Any] = {}
        checker = threading.Thread(target=lambda: deploy.update(check_deploy({})))
        checker.start()
        plan = seed(args, workdir)
        plan_path = workdir / "plan.json"
        plan_path.write_text(json.dumps(plan))
        seed_seconds = time.monotonic() - started
        connections.close_all()
        wait_worker(worker, workdir)
        wait_for_port(services.port, timeout=120)
        health = wait_healthy(services)
        checker.join()
        proxy = proxy_check(services)
        monitor = ConnectionMonitor(os.environ["DATABASE_URL"])
        monitor.start()
        load_before = os.getloadavg()[0]
        cpu_before = {"web": family_cpu_seconds(web.pid), "worker": family_cpu_seconds(worker.pid)}
        locust_before = os.times()
        load_started = time.monotonic()
        startup_seconds = load_started - started - seed_seconds
        prefix = run_locust(args, services, plan_path)
        load_seconds = time.monotonic() - load_started
        locust_after = os.times()
        cpu = {
            "web": family_cpu_seconds(web.pid) - cpu_before["web"],
            "worker": family_cpu_seconds(worker.pid) - cpu_before["worker"],
            "locust": (locust_after.children_user + locust_after.children_system)
            - (locust_before.children_user + locust_before.children_system),
        }
        load_after = os.getloadavg()[0]
        monitor.stop()
        cpu["postgresql_web_backends"] = monitor.web_backend_cpu_seconds
        ingest = wait_ingested(plan["upload_dataset"], len(plan["upload_files"]), 120)
        ingest_wait_seconds = time.monotonic() - load_started - load_seconds
        endpoints, total, failures = read_stats(prefix)
        errors_5xx = server_errors(workdir)
    finally:
        if monitor is not None:
            monitor.stop()
        _stop(web)
        _stop(worker)
        services.stop()
        shutil.rmtree(workdir / "seaweedfs", ignore_errors=True)  # the logs stay
    missing = [c for c in ENDPOINT_CLASSES if not any(n.startswith(c) for n in endpoints)]
    errors = int(total.get("failures", 0)) + errors_5xx
    upload_ready = ingest.get("ready", 0)
    budget = args.web_workers * args.web_threads + args.worker_concurrency
    goal_met = (
        errors == 0
        and not missing
        and proxy["ok"]
        and upload_ready == len(plan["upload_files"])
        and monitor.peak_server < monitor.max_connections
        and deploy["returncode"] == 0
    )
    figures: dict[str, Any] = {
        "users": args.users,
        "duration_s": args.duration,
        "load_seconds": round(load_seconds, 1),
        "seed_seconds": round(seed_seconds, 1),
        "startup_seconds": round(startup_seconds, 1),
        "ingest_wait_seconds": round(ingest_wait_seconds, 1),
        "seeded": plan["counts"],
        "gunicorn": {"workers": args.web_workers, "threads": args.web_threads},
        "worker_concurrency": args.worker_concurrency,
        # CPU seconds during the load: gunicorn (master and workers), the Celery worker,
        # locust; the web's per request is what a request costs the portal, whatever the wait.
        "cpu_seconds": {name: round(value, 1) for name, value in cpu.items()},
        "web_cpu_ms_per_request": round(1000 * cpu["web"] / max(1, total.get("requests", 0)), 1),
        "postgresql_cpu_ms_per_request": round(
            1000 * cpu["postgresql_web_backends"] / max(1, total.get("requests", 0)), 1
        ),
        "load_average_1m": {"before": round(load_before, 2), "after": round(load_after, 2)},
        "endpoints": endpoints,
        "total": total,
        "requests_per_second": total.get("rps", 0.0),
        "errors": errors,
        "server_errors": errors_5xx,
        "failures": failures,
        "endpoint_classes_missing": missing,
        "db_connections": {
            "peak_portal_database": monitor.peak_database,
            "peak_web": monitor.peak_web,
            "peak_worker": monitor.peak_worker,
            "peak_server": monitor.peak_server,
            "max_connections": monitor.max_connections,
            "budget_web_plus_worker": budget,
            "samples": monitor.samples,
            "error": monitor.error,
        },
        "proxy": proxy,
        "health": health.get("status"),
        "upload_files": len(plan["upload_files"]),
        "upload_ingest_states": ingest,
        "check_deploy": deploy,
        "goal": "0 errors, every endpoint class hit, connections below max_connections, "
        "check --deploy clean",
        "goal_met": goal_met,
        "workdir": str(workdir),
    }
    db = figures["db_connections"]
    figures["summary"] = (
        f"{table(endpoints, total)}\n"
        f"load: {args.users} users x {args.duration}s: {total.get('requests', 0)} requests, "
        f"{total.get('rps', 0.0):.1f}/s, {errors} errors, p95 {total.get('p95_ms', 0):.0f} ms; "
        f"peak PostgreSQL connections {db['peak_portal_database']} of the portal "
        f"({db['peak_web']} web, {db['peak_worker']} worker; budget {budget}), "
        f"{db['peak_server']} on the server of max_connections {db['max_connections']}; "
        f"CPU per request {figures['web_cpu_ms_per_request']:.0f} ms gunicorn + "
        f"{figures['postgresql_cpu_ms_per_request']:.0f} ms PostgreSQL (load average "
        f"{load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} CPUs); "
        f"upload ingested {upload_ready}/{len(plan['upload_files'])}; plain HTTP -> "
        f"{proxy['plain_http_status']}; check --deploy: {deploy['output']} "
        f"(goal {'met' if goal_met else 'NOT met'})"
    )
    return figures

"""Randomized faults over an ingest: ``--fault-count`` faults (100) drawn from the fault suite's
list while ``--fault-files`` files (2,000) are ingested by a real Celery worker on PostgreSQL,
a Redis server of its own and a SeaweedFS of its own behind the fault proxy:

- ``worker_kill``: SIGKILL the worker (mid-hash, mid-settle: wherever it is), start a new one;
- ``redis_restart``: kill its Redis (no persistence: queued and unacknowledged messages are
  lost) and start it again on the same port;
- ``pg_terminate``: ``pg_terminate_backend`` on the worker's connections (found by their
  ``application_name``; nobody else's);
- ``s3_restart``: stop the S3 server and start it again;
- ``s3_500``, ``s3_503``, ``s3_slowdown``, ``s3_stall``: for a moment, a third of the requests
  to S3 are answered so (or stalled two seconds) by the proxy.

Then the reconciler's passes (the beat's, at once, "stale" meaning now), and the counts of
``bench.faultcheck``: lost, stuck, duplicates, orphaned multipart uploads, checksum
mismatches against a clean run (the SHA-256 of the bytes stored). Bounded in time
(``--fault-timeout``); ``--fault-files 200 --fault-count 10`` is a short run.

Needs ``DATABASE_URL=postgres://...`` (its server gets a database ``openem_bench_faults``,
dropped and created afresh) and ``redis-server`` on the PATH; never touches the shared Redis.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import ROOT, OwnServices, fresh_postgres_database

NAME = "faults"
BENCH_DATABASE = "openem_bench_faults"
KINDS = (
    "worker_kill",
    "redis_restart",
    "pg_terminate",
    "s3_restart",
    "s3_500",
    "s3_503",
    "s3_slowdown",
    "s3_stall",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fault-files", type=int, default=2000, help="faults: files (2000)")
    parser.add_argument("--fault-count", type=int, default=100, help="faults: faults (100)")
    parser.add_argument(
        "--fault-timeout", type=float, default=900.0, help="faults: seconds at most (900)"
    )
    parser.add_argument("--fault-seed", type=int, default=12, help="faults: random seed (12)")
    parser.add_argument(
        "--fault-database",
        default=BENCH_DATABASE,
        help=f"faults: the database made afresh for the run ({BENCH_DATABASE})",
    )


# --- Environment (before Django is set up) -------------------------------------------------------


class Services(OwnServices):
    """This run's own Redis, SeaweedFS and fault proxy."""

    def __init__(self, workdir: Path):
        from bench.faultproxy import FaultProxy

        super().__init__(workdir, "faults")
        self.proxy = FaultProxy(self.weed.endpoint_url).start()

    def stop(self) -> None:
        self.proxy.stop()
        super().stop()


def prepare_environment(args: argparse.Namespace) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("faults: set DATABASE_URL=postgres://user@host:5432/anydb")
    workdir = Path(tempfile.mkdtemp(prefix="openem-bench-faults-"))
    services = Services(workdir)
    args.fault_services = services
    os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, args.fault_database)
    os.environ["OPENEM_DATA_DIR"] = str(workdir / "var")
    os.environ["CELERY_BROKER_URL"] = services.redis.url
    os.environ.pop("CELERY_BROKER_KEY_PREFIX", None)
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ.update(
        {
            "S3_BUCKET": services.bucket,
            "S3_ENDPOINT_URL": services.proxy.endpoint_url,
            "S3_ACCESS_KEY_ID": services.weed.access_key,
            "S3_SECRET_ACCESS_KEY": services.weed.secret_key,
            "S3_REGION": services.weed.region,
        }
    )


# --- The worker ------------------------------------------------------------------------------------


class Worker:
    def __init__(self, log: Path):
        self.log = log
        self.application_name = f"openem-bench-faults-{os.getpid()}"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env["DJANGO_SETTINGS_MODULE"] = "openem.settings"
        env["DATABASE_URL"] = (
            f"{os.environ['DATABASE_URL']}?application_name={self.application_name}"
        )
        env["CELERY_WORKER_PREFETCH_MULTIPLIER"] = "1"
        ready_before = self._ready_count()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                [
                    sys.executable, "-m", "celery", "-A", "openem", "worker", "-c", "2",
                    "-Q", "default,ingest,export", "--loglevel=INFO", "--without-gossip",
                    "--without-mingle", "-n", f"bench-faults-{os.getpid()}-{self.starts}@%h",
                ],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.starts += 1
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited; see {self.log}")
            if self._ready_count() > ready_before:
                return
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not start; see {self.log}")

    def _ready_count(self) -> int:
        return self.log.read_text(errors="replace").count(" ready.") if self.log.exists() else 0

    def kill(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


# --- Faults --------------------------------------------------------------------------------------


def _proxy_burst(services: Services, fault: Any, seconds: float, chance: random.Random) -> None:
    lock = threading.Lock()

    def rule(method: str, path: str) -> Any:
        with lock:
            return fault if chance.random() < 0.33 else None

    services.proxy.rules.append(rule)
    time.sleep(seconds)
    services.proxy.rules.remove(rule)


def _terminate_connections(application_name: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database() "
            "AND pid <> pg_backend_pid()",
            [application_name],
        )
        return int(cursor.fetchone()[0])


def inject(kind: str, services: Services, worker: Worker, chance: random.Random) -> None:
    from bench.faultproxy import Fault

    if kind == "worker_kill":
        worker.kill()
        worker.start()
    elif kind == "redis_restart":
        services.redis.restart(down_seconds=0.5)
    elif kind == "pg_terminate":
        _terminate_connections(worker.application_name)
    elif kind == "s3_restart":
        services.weed.stop()
        time.sleep(1.0)
        services.weed.start()
    elif kind == "s3_500":
        _proxy_burst(services, Fault(status=500, code="InternalError"), 1.5, chance)
    elif kind == "s3_503":
        _proxy_burst(services, Fault(status=503, code="ServiceUnavailable"), 1.5, chance)
    elif kind == "s3_slowdown":
        _proxy_burst(services, Fault(status=503, code="SlowDown"), 1.5, chance)
    elif kind == "s3_stall":
        _proxy_burst(services, Fault(stall=2.0), 3.0, chance)
    else:
        raise ValueError(kind)


# --- The run ---------------------------------------------------------------------------------------


def _enqueue(ids: list[int]) -> int:
    """Enqueue, as the upload's commit does; with the broker down an enqueue is lost (the file
    stays ``stored`` for the reconciler), as it is for a real upload."""
    from ingest.tasks import process_file

    lost = 0
    for datafile_id in ids:
        try:
            process_file.delay(datafile_id)
        except Exception:
            lost += 1
    return lost


def _unsettled(dataset: Any) -> int:
    from repository.models import DataFile, FileState

    return DataFile.objects.filter(
        dataset=dataset, state__in=(FileState.REGISTERED, FileState.STORED, FileState.PROCESSING)
    ).count()


def _settled(dataset: Any) -> bool:
    from repository.models import Dataset, DatasetStatus

    return (
        _unsettled(dataset) == 0
        and Dataset.objects.filter(pk=dataset.pk, status=DatasetStatus.READY).exists()
    )


def _wait_quiet(dataset: Any, deadline: float, quiet: float = 15.0) -> None:
    """Until settled, or nothing moved for ``quiet`` seconds, or the deadline."""
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline and not _settled(dataset):
        now = _unsettled(dataset)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > quiet:
            return
        time.sleep(0.5)


def _reconciler_pass() -> None:
    import datetime as dt

    from ingest import tasks
    from ingest.uploads import abort_stale_multipart_uploads

    tasks.reconcile(older_than_seconds=0)
    abort_stale_multipart_uploads(orphaned_after=dt.timedelta(0))


def run(args: argparse.Namespace) -> dict[str, Any]:
    import hashlib

    from django.core.management import call_command
    from django.db import connections

    import storage
    from bench.faultcheck import check
    from bench.pipeline import make_session
    from repository.models import DataFile

    services: Services = args.fault_services
    try:
        call_command("migrate", verbosity=0)
        storage.reset_store_cache()
        store = storage.get_store()
        assert isinstance(store, storage.S3Store)
        store.ensure_bucket()
        dataset, ids, _ = make_session(args.fault_files, "Faults benchmark")
        # What a clean run computes: the SHA-256 of each object as stored (read back before
        # any fault).
        expected = {
            path: hashlib.sha256(b"".join(store.iter_chunks(key))).hexdigest()
            for path, key in DataFile.objects.filter(dataset=dataset).values_list(
                "path", "storage_key"
            )
        }
        connections.close_all()
        worker = Worker(services.workdir / "worker.log")
        worker.start()
        chance = random.Random(args.fault_seed)  # noqa: S311 - reproducible faults, not secrets
        plan = [chance.choice(KINDS) for _ in range(args.fault_count)]
        started = time.monotonic()
        deadline = started + args.fault_timeout
        chunk = max(1, len(ids) // max(1, args.fault_count))
        enqueue_lost = 0
        injected: Counter[str] = Counter()
        for index, kind in enumerate(plan):
            if time.monotonic() > deadline - 120:
                break  # keep time for the reconciler
            enqueue_lost += _enqueue(ids[index * chunk : (index + 1) * chunk])
            time.sleep(chance.uniform(0.2, 1.5))
            inject(kind, services, worker, chance)
            injected[kind] += 1
        enqueue_lost += _enqueue(ids[len(plan) * chunk :])
        faults_seconds = time.monotonic() - started
        _wait_quiet(dataset, deadline)
        passes = 0
        while not _settled(dataset) and passes < 3 and time.monotonic() < deadline + 300:
            _reconciler_pass()
            passes += 1
            _wait_quiet(dataset, deadline + 300)
        if passes == 0:
            _reconciler_pass()  # at least once: its multipart clean-up
        seconds = time.monotonic() - started
        counts = check({dataset.pk: expected})
        worker.stop()
    finally:
        services.stop()
    states = Counter(DataFile.objects.filter(dataset=dataset).values_list("state", flat=True))
    figures: dict[str, Any] = {
        "files": args.fault_files,
        "faults": sum(injected.values()),
        "faults_by_kind": dict(injected),
        "seed": args.fault_seed,
        "seconds_faults": round(faults_seconds, 1),
        "seconds_total": round(seconds, 1),
        "reconciler_passes": passes,
        "enqueues_lost_to_the_broker": enqueue_lost,
        "worker_starts": worker.starts,
        "states": dict(states),
        **counts.as_dict(),
        "goal": "0 lost, 0 stuck, 0 duplicates, 0 orphans, 0 checksum mismatches",
        "goal_met": counts.clean,
        "worker_log": str(worker.log),
    }
    figures["summary"] = (
        f"faults: {figures['faults']} faults over {args.fault_files} files in {seconds:.0f}s "
        f"({passes} reconciler passes): lost {counts.lost}, stuck {counts.stuck}, duplicates "
        f"{counts.duplicates}, orphans {counts.orphans}, checksum mismatches "
        f"{counts.checksum_mismatches} (goal {'met' if counts.clean else 'NOT met'})"
    )
    return figures

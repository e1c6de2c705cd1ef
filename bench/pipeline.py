"""10,000 small files through the whole ingest pipeline: a real Celery worker with two
processes (``celery -A openem worker -c 2``) on PostgreSQL and Redis, local object storage.
Figures: files per second (from the first enqueue to the dataset settled) and database queries
per file (counted with ``connection.execute_wrapper`` over a single-process run).
Goal: >= 100 files/s.

Needs ``DATABASE_URL=postgres://...`` (its server gets a dedicated database ``openem_bench``,
dropped and migrated afresh each run) and ``CELERY_BROKER_URL``; the worker consumes its own
queue (``bench_ingest``), so a portal worker on the same broker never sees these tasks.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, fresh_postgres_database

NAME = "pipeline"
BENCH_DATABASE = "openem_bench"
BENCH_QUEUE = "bench_ingest"
GOAL = 100.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--files", type=int, default=10_000, help="pipeline: files (10000)")
    parser.add_argument(
        "--query-files", type=int, default=200, help="pipeline: files for the query count (200)"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="pipeline: worker processes")
    parser.add_argument("--timeout", type=float, default=900.0, help="pipeline: seconds to wait")
    parser.add_argument(
        "--worker-app",
        default="openem",
        help="pipeline: the Celery app the worker runs (-A); another module lets you try a "
        "configuration before it goes into the settings",
    )


# --- Environment (before Django is set up) -------------------------------------------------------


def prepare_environment(args: argparse.Namespace) -> None:
    """Create the benchmark database and point this process (and the worker) at it."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("pipeline: set DATABASE_URL=postgres://user@host:5432/anydb")
    if not os.environ.get("CELERY_BROKER_URL"):
        raise SystemExit("pipeline: set CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>")
    workdir = Path(tempfile.mkdtemp(prefix="openem-bench-pipeline-"))
    os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, BENCH_DATABASE)
    os.environ["OPENEM_DATA_DIR"] = str(workdir / "var")
    os.environ["OPENEM_STORAGE_ROOT"] = str(workdir / "objects")
    for name in [key for key in os.environ if key.startswith("S3_")]:
        del os.environ[name]  # local storage, shared by this process and the worker
    args.pipeline_workdir = workdir


# --- The files ---------------------------------------------------------------------------------


def templates() -> list[tuple[str, bytes]]:
    """Small files of each kind a session holds: (name pattern, bytes)."""
    from django.conf import settings

    from demo import seed as demo

    rng = np.random.default_rng(2)
    epu = sorted((Path(settings.OPENEM_SAMPLES_DIR) / "epu").glob("FoilHole_*.xml"))
    sidecar = (
        ("Data/FoilHole_{i}_Data.xml", epu[0].read_bytes())
        if epu
        else ("Data/TS_{i}.mrc.mdoc", demo.mdoc_text("TS.mrc"))
    )
    return [
        sidecar,
        (
            "Micrographs/FoilHole_{i}.mrc",
            demo.mrc_bytes(rng.normal(size=(64, 64)).astype(np.float32), 0.83),
        ),
        ("Movies/FoilHole_{i}_fractions.tiff", demo.tiff_movie_bytes(frames=6, shape=(64, 64))),
        ("Movies/FoilHole_{i}_EER.eer", demo.eer_like_bytes(frames=4, shape=(64, 64))),
    ]


def make_session(count: int, title: str) -> tuple[Any, list[int], int]:
    """A dataset with ``count`` registered, stored files (stored in bulk: not timed here)."""
    from django.contrib.auth import get_user_model

    import storage
    from ingest.uploads import upload_session_create, upload_session_register_files
    from repository.models import (
        DataFile,
        Dataset,
        DatasetStatus,
        Facility,
        FacilityMembership,
        FacilityRole,
        FileState,
    )
    from repository.services import dataset_create

    facility, _ = Facility.objects.get_or_create(slug="bench", defaults={"name": "Bench facility"})
    user, _ = get_user_model().objects.get_or_create(username="bench-staff")
    FacilityMembership.objects.get_or_create(
        user=user, facility=facility, defaults={"role": FacilityRole.STAFF}
    )
    dataset = dataset_create(actor=user, facility=facility, technique="spa", title=title)
    session = upload_session_create(actor=user, dataset=dataset)
    kinds = templates()
    entries = []
    contents = []
    for index in range(count):
        pattern, data = kinds[index % len(kinds)]
        entries.append({"path": pattern.format(i=index), "size": len(data)})
        contents.append(data)
    started = time.perf_counter()
    rows = []
    for start in range(0, count, 10_000):
        rows += upload_session_register_files(
            actor=user, session=session, entries=entries[start : start + 10_000]
        )
    register_seconds = time.perf_counter() - started
    store = storage.get_store()
    for row, data in zip(rows, contents, strict=True):
        store.put(row.storage_key, io.BytesIO(data))
    ids = list(
        DataFile.objects.filter(upload_session=session).order_by("pk").values_list("pk", flat=True)
    )
    DataFile.objects.filter(pk__in=ids).update(state=FileState.STORED)
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.INGESTING)
    return dataset, ids, int(register_seconds * 1000)


# --- Queries per file (one process, no Celery) ---------------------------------------------------


def count_queries(count: int) -> dict[str, Any]:
    from django.db import connection

    from ingest.services import datafile_process

    _, ids, _ = make_session(count, "Query count")
    statements: Counter[str] = Counter()

    def counter(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[sql.lstrip().split(None, 1)[0].upper()] += 1
        return execute(sql, params, many, context)

    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        for datafile_id in ids:
            outcomes[datafile_process(datafile_id)] += 1
    seconds = time.perf_counter() - started
    total = sum(statements.values())
    return {
        "files": count,
        "queries": total,
        "queries_per_file": round(total / count, 2),
        "by_statement": dict(statements),
        "outcomes": dict(outcomes),
        "single_process_files_per_s": round(count / seconds, 1),
        "single_process_ms_per_file": round(seconds / count * 1000, 2),
    }


# --- The worker ------------------------------------------------------------------------------------


def start_worker(concurrency: int, log: Path, app: str = "openem") -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["DJANGO_SETTINGS_MODULE"] = "openem.settings"
    with open(log, "wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "-c",
                str(concurrency),
                "-Q",
                BENCH_QUEUE,
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"bench-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited:\n{log.read_text(errors='replace')}")
        if "ready." in log.read_text(errors="replace"):
            return process
        time.sleep(0.2)
    stop_worker(process)
    raise RuntimeError(f"the worker did not start:\n{log.read_text(errors='replace')}")


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        return 0.0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


# --- The run ---------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connections

    from ingest.tasks import process_file
    from openem.celery import app
    from repository.models import DataFile, Dataset, DatasetStatus, FileState

    call_command("migrate", verbosity=0)
    queries = count_queries(args.query_files)

    dataset, ids, register_ms = make_session(args.files, "Pipeline benchmark")
    # A worker app other than the portal's may carry settings to try; PRODUCER_CONF in it is
    # what this (enqueueing) side needs to match.
    app.conf.update(getattr(importlib.import_module(args.worker_app), "PRODUCER_CONF", {}))
    app.conf.task_routes = {"ingest.*": {"queue": BENCH_QUEUE}}
    with app.connection_for_write() as connection:
        connection.default_channel.queue_declare(queue=BENCH_QUEUE, durable=True)
        connection.default_channel.queue_purge(BENCH_QUEUE)
    connections.close_all()  # the worker forks with its own connections

    log = args.pipeline_workdir / "worker.log"
    worker = start_worker(args.concurrency, log, args.worker_app)
    try:
        cpu_before = cpu_seconds(worker.pid)
        started = time.perf_counter()
        enqueue_cpu = time.process_time()
        for datafile_id in ids:
            process_file.delay(datafile_id)
        enqueue_seconds = time.perf_counter() - started
        enqueue_cpu = time.process_time() - enqueue_cpu
        unsettled = DataFile.objects.filter(
            dataset=dataset, state__in=(FileState.STORED, FileState.PROCESSING)
        )
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if (
                not unsettled.exists()
                and Dataset.objects.filter(pk=dataset.pk, status=DatasetStatus.READY).exists()
            ):
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(
                f"not settled after {args.timeout}s: {unsettled.count()} files left; "
                f"worker log {log}"
            )
        seconds = time.perf_counter() - started
        worker_cpu = cpu_seconds(worker.pid) - cpu_before
    finally:
        stop_worker(worker)
        # The stored objects are not needed any more (the worker log stays for reading).
        shutil.rmtree(args.pipeline_workdir / "objects", ignore_errors=True)

    states = Counter(DataFile.objects.filter(dataset=dataset).values_list("state", flat=True))
    files_per_s = args.files / seconds
    figures: dict[str, Any] = {
        "files": args.files,
        "worker_concurrency": args.concurrency,
        "worker_app": args.worker_app,
        "storage": "local",
        "register_ms_for_all_files": register_ms,
        "enqueue_seconds": round(enqueue_seconds, 2),
        "enqueue_cpu_ms_per_file": round(enqueue_cpu / args.files * 1000, 3),
        "seconds_to_settled": round(seconds, 2),
        "files_per_s": round(files_per_s, 1),
        "worker_cpu_ms_per_file": round(worker_cpu / args.files * 1000, 2),
        "states": dict(states),
        "queries": queries,
        "goal": f">= {GOAL:.0f} files/s",
        "goal_met": files_per_s >= GOAL and states.get(FileState.READY, 0) == args.files,
        "database": BENCH_DATABASE,
        "worker_log": str(log),
    }
    figures["summary"] = (
        f"pipeline {args.files} files, worker -c {args.concurrency}: {files_per_s:.1f} files/s "
        f"(goal >= {GOAL:.0f}: {'met' if figures['goal_met'] else 'NOT met'}), "
        f"{queries['queries_per_file']} DB queries/file, "
        f"worker CPU {figures['worker_cpu_ms_per_file']} ms/file, states {dict(states)}"
    )
    return figures

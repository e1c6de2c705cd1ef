"""A full OAI-PMH harvest of 100,000 published datasets (ListRecords, oai_dc) over HTTP from
gunicorn (one worker process) on PostgreSQL, harvested by ``sickle`` as aggregators do.

Figures: records per second of the whole harvest; the worker's resident memory (VmRSS) after
the first page, at each tenth of the harvest and at the end (flat = the server holds one page,
not the list); and, as the reference of the same run, the same harvest with ListIdentifiers
(headers only), so the cost of writing the records themselves shows as a ratio.

Needs ``DATABASE_URL=postgres://...``; its server gets a dedicated database
``openem_bench_oai``, dropped and filled afresh each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, free_port, fresh_postgres_database, wait_for_port

NAME = "oai"
BENCH_DATABASE = "openem_bench_oai"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--oai-datasets", type=int, default=100_000, help="oai: published datasets (100000)"
    )


def prepare_environment(args: argparse.Namespace) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("oai: set DATABASE_URL=postgres://user@host:5432/anydb")
    os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, BENCH_DATABASE)
    workdir = Path(tempfile.mkdtemp(prefix="openem-bench-oai-"))
    os.environ["OPENEM_DATA_DIR"] = str(workdir / "var")
    args.oai_workdir = workdir


def _fill(count: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from deposition.demo import demo_deposition_metadata
    from repository.models import Dataset, Facility, Instrument, Technique

    call_command("migrate", verbosity=0, interactive=False)
    owner = get_user_model().objects.create(username="bench")
    facilities = [
        Facility.objects.create(name=f"Facility {n}", slug=f"facility-{n}", ror_id="02s6k3f65")
        for n in range(4)
    ]
    instruments = [
        Instrument.objects.create(facility=f, name="Krios", manufacturer="TFS", model="Krios G4")
        for f in facilities
    ]
    metadata = demo_deposition_metadata("spa", "raw")
    techniques = [Technique.SPA, Technique.TOMOGRAPHY, Technique.SUBTOMO, Technique.MICROED]
    now = timezone.now()
    batch = []
    for n in range(count):
        batch.append(
            Dataset(
                title=f"Benchmark session {n}",
                description="Cryo-EM session of mouse apoferritin, for the OAI-PMH benchmark.",
                technique=techniques[n % 4],
                facility=facilities[n % 4],
                instrument=instruments[n % 4],
                owner=owner,
                keywords=["apoferritin", "benchmark"],
                visibility="public",
                status="published",
                metadata=metadata,
                emdb_ids=["EMD-12345"] if n % 10 == 0 else [],
                published_at=now,
            )
        )
        if len(batch) == 5000:
            Dataset.objects.bulk_create(batch)
            batch = []
    Dataset.objects.bulk_create(batch)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0]) if children else master


def _harvest(url: str, verb: str, worker: int, total: int) -> dict[str, Any]:
    from sickle import Sickle

    harvester = Sickle(url, max_retries=0, timeout=120)
    method = getattr(harvester, verb)
    started = time.perf_counter()
    count = 0
    rss: list[int] = []
    for _item in method(metadataPrefix="oai_dc"):
        count += 1
        if count == 100 or count % max(1, total // 10) == 0:
            rss.append(_rss_kib(worker))
    seconds = time.perf_counter() - started
    rss.append(_rss_kib(worker))
    return {
        "items": count,
        "seconds": round(seconds, 2),
        "items_per_second": round(count / seconds, 1),
        "worker_rss_mib": [round(k / 1024, 1) for k in rss],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    count = args.oai_datasets
    started = time.perf_counter()
    _fill(count)
    fill_seconds = time.perf_counter() - started
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE repository_dataset")
    port = free_port()
    env = dict(os.environ, OPENEM_SITE_URL=f"http://127.0.0.1:{port}")
    server = subprocess.Popen(  # noqa: S603 (our own interpreter's gunicorn)
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "openem.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for_port(port, timeout=60)
        worker = _worker_pid(server.pid)
        url = f"http://127.0.0.1:{port}/oai"
        records = _harvest(url, "ListRecords", worker, count)
        identifiers = _harvest(url, "ListIdentifiers", worker, count)
    finally:
        server.terminate()
        server.wait(timeout=30)
    growth = records["worker_rss_mib"][-1] - records["worker_rss_mib"][0]
    ratio = records["seconds"] / identifiers["seconds"] if identifiers["seconds"] else 0
    return {
        "datasets": count,
        "fill_seconds": round(fill_seconds, 1),
        "page_size": int(os.environ.get("OPENEM_OAI_PAGE_SIZE", "100")),
        "list_records_oai_dc": records,
        "list_identifiers_reference": identifiers,
        "records_vs_identifiers_time_ratio": round(ratio, 2),
        "worker_rss_growth_mib": round(growth, 1),
        "summary": (
            f"oai: {records['items']} records in {records['seconds']} s "
            f"({records['items_per_second']} records/s; ListIdentifiers "
            f"{identifiers['items_per_second']}/s), worker RSS "
            f"{records['worker_rss_mib'][0]} -> {records['worker_rss_mib'][-1]} MiB"
        ),
    }

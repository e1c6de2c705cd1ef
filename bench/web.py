"""Benchmark of the portal's pages on PostgreSQL: ``python -m bench.web``.

Not a test: it prints figures and writes ``bench/results/web.json``. Goals (issue 5):

- the landing page of a dataset with 1,000,000 files, first page of its file browser:
  < 300 ms server time, p95 over 20 loads;
- search with facet counts over 100,000 datasets: p95 < 200 ms;
- the SHA-256 manifest of the 1,000,000 files streams in < 10 s, with flat memory.

It uses its own database (``openem_bench_web`` unless ``--database-url`` says otherwise),
creates it, migrates it and fills it once with COPY (100,000 datasets of realistic text and
OSC-EM metadata, one dataset of 1,000,000 files in 901 folders); later runs reuse the data
(``--reload`` refills). "Server time" is the time Django takes to answer a request in-process
(``django.test.Client``: URL routing, access rules, queries, template), without a network.

    python -m bench.web
    python -m bench.web --database-url postgres://postgres@127.0.0.1:5432/openem_bench_web
    python -m bench.web --only search      # one part; the others' last figures are kept
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/openem_bench_web"
MARKER_FACILITY = "bench-web"
DATASETS = 100_000
BIG_FILES = 1_000_000
FOLDERS = 900  # GridSquare folders of 1,000 files each, and one "Movies" folder of 100,000
FILES_PER_FOLDER = 1_000
LOADS = 20
PARTS = ("landing", "search", "manifest")
BIG_PID = "oem-bigsession"

SAMPLES = [
    "apoferritin",
    "ribosome",
    "spike protein",
    "proteasome",
    "GPCR",
    "nucleosome",
    "ion channel",
    "transporter",
    "photosystem II",
    "microtubule",
    "actin filament",
    "ryanodine receptor",
    "TRPV1",
    "aldolase",
    "beta-galactosidase",
    "hemagglutinin",
    "insulin receptor",
    "polymerase",
    "spliceosome",
    "chaperonin",
    "virus capsid",
]
ORGANISMS = [
    "Homo sapiens",
    "Mus musculus",
    "Escherichia coli",
    "Saccharomyces cerevisiae",
    "Chlamydomonas reinhardtii",
    "Arabidopsis thaliana",
    "SARS-CoV-2",
]
TECHNIQUES = ["spa"] * 6 + ["tomography", "subtomo", "cellular_tomo", "microed", "env_tomo"]
DETECTORS = ["Falcon 4i", "Falcon 4", "Gatan K3", "Gatan K2", "DE Apollo", "Falcon 3EC"]
LICENCES = ["CC-BY-4.0"] * 8 + ["CC0-1.0", "CC-BY-SA-4.0"]
FAMILY = [
    "Müller",
    "Meier",
    "Schmid",
    "Keller",
    "Weber",
    "Huber",
    "Rossi",
    "Bianchi",
    "Dubois",
    "Martin",
    "Smith",
    "Chen",
    "Wang",
    "Kumar",
    "Garcia",
    "Novak",
    "Kowalski",
    "Sato",
]
GIVEN = [
    "Anna",
    "Luca",
    "Marie",
    "Jonas",
    "Sara",
    "David",
    "Lea",
    "Noah",
    "Mia",
    "Elias",
    "Laura",
    "Tim",
    "Nina",
    "Ben",
    "Julia",
    "Jan",
]
WORDS = [
    "high-resolution",
    "structure",
    "of",
    "the",
    "in",
    "complex",
    "with",
    "bound",
    "state",
    "apo",
    "ligand",
    "inhibitor",
    "nanodisc",
    "detergent",
    "native",
    "membranes",
    "cryo-EM",
    "dataset",
    "collected",
    "on",
    "grids",
    "graphene",
    "oxide",
    "gold",
    "conformational",
    "heterogeneity",
    "time-resolved",
    "lamella",
    "FIB-milled",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("OPENEM_BENCH_WEB_DATABASE_URL", DEFAULT_DATABASE_URL),
    )
    parser.add_argument("--reload", action="store_true", help="drop the data and load it again")
    parser.add_argument("--loads", type=int, default=LOADS, help="timed loads per page")
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable); the other parts' figures in "
        "bench/results/web.json are kept from the last run",
    )
    return parser.parse_args(argv)


def prepare(database_url: str) -> None:
    """Point Django at the benchmark database (created if missing) before it is set up."""
    parsed = urlparse(database_url)
    if parsed.scheme not in ("postgres", "postgresql"):
        sys.exit("the web benchmark needs PostgreSQL (full-text search, server-side cursors)")
    import psycopg2

    name = parsed.path.lstrip("/")
    admin = psycopg2.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openem.settings")
    os.environ.setdefault("OPENEM_DATA_DIR", str(ROOT / "var" / "bench-web"))
    # No broker: nothing is enqueued here anyway. Throttling is the API's, not the pages'.
    os.environ.pop("CELERY_BROKER_URL", None)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# ---------------------------------------------------------------------------------------------
# Loading


def _copy(
    table: str,
    columns: list[str],
    rows: Iterator[list[Any]],
    *,
    not_null: tuple[str, ...] = (),
    batch: int = 100_000,
) -> int:
    """COPY rows in batches; an empty field is NULL except in the ``not_null`` text columns."""
    from django.db import connection

    count = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    options = "FORMAT csv" + (f", FORCE_NOT_NULL ({', '.join(not_null)})" if not_null else "")
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH ({options})"

    def flush() -> None:
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(sql, buffer)
        buffer.seek(0)
        buffer.truncate()

    for row in rows:
        writer.writerow(row)
        count += 1
        if count % batch == 0:
            flush()
    flush()
    return count


def _quantity(value: float, unit: str, si: float, unit_si: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "valueSI": si, "unitSI": unit_si}


def _metadata(rng: random.Random, technique: str) -> dict[str, Any]:
    pixel = round(rng.uniform(0.5, 3.5), 3)
    kv = rng.choice([120.0, 200.0, 300.0, 300.0, 300.0])
    dose = round(rng.uniform(20, 80), 1)
    detector = rng.choice(DETECTORS)
    acquisition = {
        "technique": technique,
        "pixel_size": _quantity(pixel, "Å", pixel * 1e-10, "m"),
        "dose_per_movie": _quantity(dose, "e/Å^2", dose * 1e20, "1/m^2"),
        "detectors": [{"name": detector, "mode": "counting"}],
        "date_time": f"20{rng.randint(18, 26)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:00:00Z",
    }
    instrument = {
        "acceleration_voltage": _quantity(kv, "kV", kv * 1000, "V"),
        "microscope": {
            "manufacturer": "Thermo Fisher Scientific",
            "model": rng.choice(["Titan Krios G4", "Glacios 2", "Talos Arctica"]),
        },
    }
    authors = [
        {
            "given_name": rng.choice(GIVEN),
            "family_name": rng.choice(FAMILY),
            "orcid": f"0000-000{rng.randint(1, 9)}-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
        }
        for _ in range(rng.randint(1, 4))
    ]
    sample = rng.choice(SAMPLES)
    return {
        "acquisition": acquisition,
        "instrument": instrument,
        "sample": {"name": sample, "description": f"{sample} from {rng.choice(ORGANISMS)}"},
        "organizational": {"authors": authors},
        "_derived": {"acquisition": acquisition, "instrument": instrument},
    }


def load(reload: bool) -> dict[str, Any]:
    from django.db import transaction

    from repository.models import Dataset

    big = Dataset.objects.filter(pid=BIG_PID).first()
    complete = (
        big is not None
        and big.files.count() == BIG_FILES
        and Dataset.objects.filter(pid__startswith="oem-b").count() >= DATASETS
    )
    if complete and not reload:
        return {"loaded": False, "big_pid": BIG_PID}
    with transaction.atomic():  # a load that stops half-way leaves nothing behind
        return _load()


def _load() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from repository.models import (
        Dataset,
        Facility,
        FacilityMembership,
        FacilityRole,
        Instrument,
        Project,
    )

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (
            "repository_auditevent",
            "repository_datafile",
            "ingest_uploadsession",
            "repository_dataset",
            "repository_projectmembership",
            "repository_project",
            "repository_instrument",
            "repository_facilitymembership",
            "repository_facility",
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    user_model = get_user_model()
    owner, _ = user_model.objects.get_or_create(username="bench-owner")
    staff, _ = user_model.objects.get_or_create(username="bench-staff")
    researcher, _ = user_model.objects.get_or_create(username="bench-researcher")
    facilities = [
        Facility.objects.create(
            name=f"Bench facility {i}", slug=MARKER_FACILITY if i == 0 else f"bench-{i}"
        )
        for i in range(6)
    ]
    FacilityMembership.objects.create(user=staff, facility=facilities[0], role=FacilityRole.STAFF)
    instruments = [
        Instrument.objects.create(
            facility=f,
            name=f"Krios {f.pk}-{j}",
            manufacturer="Thermo Fisher Scientific",
            model=random.choice(["Titan Krios G4", "Glacios 2"]),
            detectors=[random.choice(DETECTORS)],
        )
        for f in facilities
        for j in range(3)
    ]
    project = Project.objects.create(
        title="Bench project",
        code="bench-project",
        facility=facilities[0],
        principal_investigator=owner,
    )

    rng = random.Random(20261124)
    now = datetime.now(UTC)
    columns = [
        "pid",
        "title",
        "description",
        "kind",
        "technique",
        "facility_id",
        "instrument_id",
        "project_id",
        "owner_id",
        "keywords",
        "licence",
        "visibility",
        "embargo_until",
        "status",
        "metadata",
        "metadata_validation",
        "emdb_ids",
        "empiar_id",
        "publication_dois",
        "created",
        "modified",
        "published_at",
    ]

    def datasets() -> Iterator[list[Any]]:
        for index in range(DATASETS):
            instrument = rng.choice(instruments)
            technique = rng.choice(TECHNIQUES)
            sample = rng.choice(SAMPLES)
            roll = rng.random()
            visibility, status, embargo = "public", "published", ""
            if roll > 0.9:
                visibility, status = "private", rng.choice(["ready", "draft", "ingesting"])
            elif roll > 0.8:
                visibility, embargo = (
                    "embargoed",
                    (now + timedelta(days=rng.randint(10, 700))).date().isoformat(),
                )
            created = now - timedelta(days=rng.randint(0, 365 * 6), seconds=rng.randint(0, 86400))
            title = f"{sample.capitalize()} {' '.join(rng.sample(WORDS, 4))} ({technique}) #{index}"
            description = " ".join(rng.choices(WORDS, k=30)) + f" Sample: {sample}."
            yield [
                f"oem-b{index:09d}",
                title,
                description,
                "raw",
                technique,
                instrument.facility_id,
                instrument.pk,
                project.pk if instrument.facility_id == facilities[0].pk else "",
                owner.pk,
                json.dumps([sample, technique, rng.choice(WORDS)]),
                rng.choice(LICENCES),
                visibility,
                embargo,
                status,
                json.dumps(_metadata(rng, technique)),
                "{}",
                "[]",
                "",
                "[]",
                created.isoformat(),
                created.isoformat(),
                (created + timedelta(days=30)).isoformat() if status == "published" else "",
            ]

    copied = _copy("repository_dataset", columns, datasets(), not_null=("empiar_id", "description"))
    big = Dataset.objects.create(
        pid=BIG_PID,
        title="Benchmark session with 1,000,000 files",
        technique="spa",
        facility=facilities[0],
        instrument=instruments[0],
        project=project,
        owner=owner,
        description="One EPU session of a million movies, for the file browser and manifest benchmarks.",
        status="published",
        visibility="public",
        published_at=now,
        keywords=["benchmark"],
        metadata=_metadata(rng, "spa"),
    )
    file_columns = [
        "dataset_id",
        "path",
        "directory",
        "name",
        "size",
        "storage_key",
        "format",
        "checksum_sha256",
        "checksum_md5",
        "upload_id",
        "part_crc32s",
        "expected_sha256",
        "header",
        "thumbnail_key",
        "state",
        "error",
        "created",
        "modified",
    ]
    stamp = now.isoformat()

    def files() -> Iterator[list[Any]]:
        number = 0
        for folder in range(FOLDERS):
            directory = f"Images-Disc1/GridSquare_{folder:04d}/Data"
            for item in range(FILES_PER_FOLDER):
                name = f"FoilHole_{folder:04d}{item:04d}_Data_{item % 7}_{item % 3}_20260312_{item:06d}_EER.eer"
                yield _file_row(big.pk, directory, name, number, stamp, thumbnail=number < 50)
                number += 1
        while number < BIG_FILES:
            name = f"movie_{number:07d}.tiff"
            yield _file_row(big.pk, "Movies", name, number, stamp, thumbnail=False)
            number += 1

    files_copied = _copy(
        "repository_datafile",
        file_columns,
        files(),
        not_null=(
            "checksum_md5",
            "upload_id",
            "expected_sha256",
            "thumbnail_key",
            "error",
            "format",
        ),
    )
    return {
        "loaded": True,
        "datasets": copied + 1,
        "files": files_copied,
        "load_seconds": round(time.perf_counter() - started, 1),
        "big_pid": big.pid,
    }


def _file_row(
    dataset_id: int, directory: str, name: str, number: int, stamp: str, *, thumbnail: bool
) -> list[Any]:
    digest = f"{number:064x}"
    return [
        dataset_id,
        f"{directory}/{name}",
        directory,
        name,
        400_000_000 + number,
        f"datasets/oem-bigsession/files/{number:032x}",
        "eer" if name.endswith(".eer") else "tiff",
        digest,
        "",  # checksum_md5
        "",  # upload_id
        "{}",  # part_crc32s
        "",  # expected_sha256
        "{}",  # header
        f"datasets/oem-bigsession/thumbnails/{number}.png" if thumbnail else "",
        "ready",
        "",
        stamp,
        stamp,
    ]


def vacuum() -> None:
    """Bring statistics and the visibility map up to date (what autovacuum does on a live
    system), so that the planner chooses index-only scans as it would in production."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) repository_dataset")
        cursor.execute("VACUUM (ANALYZE) repository_datafile")


# ---------------------------------------------------------------------------------------------
# Timing


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1) + 0.4999)))
    return ordered[rank]


Sample = tuple[float, float | None]  # (wall seconds, on-CPU seconds or None)


def _on_cpu_ns(pid: int | str) -> int | None:
    """Nanoseconds a process (its main thread) has run on a CPU (Linux schedstat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _backend_pid() -> int:
    from django.db import connection

    connection.ensure_connection()
    return int(connection.connection.get_backend_pid())  # type: ignore[union-attr]


def _cpu_ns(backend: int) -> int | None:
    mine, theirs = _on_cpu_ns("self"), _on_cpu_ns(backend)
    return None if mine is None or theirs is None else mine + theirs


def _summary(samples: list[Sample]) -> dict[str, float]:
    """Wall-clock and on-CPU figures. On a shared machine the wall time includes waiting
    for a CPU; the on-CPU time (this process and its PostgreSQL backend, parallel query off)
    is what the request costs, i.e. about its wall time on an idle server."""
    wall = [w * 1000 for w, _ in samples]
    summary = {
        "n": len(wall),
        "p50_ms": round(statistics.median(wall), 1),
        "p95_ms": round(_percentile(wall, 0.95), 1),
        "max_ms": round(max(wall), 1),
    }
    cpu = [c * 1000 for _, c in samples if c is not None]
    if len(cpu) == len(wall):
        summary["cpu_p50_ms"] = round(statistics.median(cpu), 1)
        summary["cpu_p95_ms"] = round(_percentile(cpu, 0.95), 1)
    return summary


def _time(
    func: Callable[[], Any], loads: int, *, before: Callable[[], None] | None = None
) -> list[Sample]:
    samples: list[Sample] = []
    for _ in range(loads):
        if before:
            before()
        backend = _backend_pid()
        cpu_before = _cpu_ns(backend)
        started = time.perf_counter()
        func()
        wall = time.perf_counter() - started
        cpu_after = _cpu_ns(backend) if _backend_pid() == backend else None
        cpu = (
            (cpu_after - cpu_before) / 1e9
            if cpu_before is not None and cpu_after is not None
            else None
        )
        samples.append((wall, cpu))
    return samples


def bench_landing(big_pid: str, loads: int) -> dict[str, Any]:
    from django.core.cache import cache
    from django.test import Client

    client = Client(SERVER_NAME="localhost")

    def get(url: str) -> Callable[[], None]:
        def run() -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return run

    landing_url = f"/datasets/{big_pid}/"
    get(landing_url)()  # warm-up: imports, template compilation
    results = {}
    # cache.clear() before each load: nothing counted lately. The page then shows the first
    # file page at once and counts the files in a second request (the "summary" fragment).
    results["landing_uncached"] = _summary(_time(get(landing_url), loads, before=cache.clear))
    results["summary_fragment_uncached"] = _summary(
        _time(get(f"/datasets/{big_pid}/summary"), loads, before=cache.clear)
    )
    results["landing_counted_lately"] = _summary(_time(get(landing_url), loads))
    results["folder_first_page"] = _summary(
        _time(get(f"/datasets/{big_pid}/files/?dir=Movies"), loads)
    )
    results["folder_deep_page"] = _summary(
        _time(get(f"/datasets/{big_pid}/files/?dir=Movies&after=movie_0987654.tiff"), loads)
    )
    results["grid_square_page"] = _summary(
        _time(get(f"/datasets/{big_pid}/files/?dir=Images-Disc1/GridSquare_0450/Data"), loads)
    )
    return results


SEARCHES = [
    "",
    "q=apoferritin",
    "q=spike+protein",
    "q=ribosome+nanodisc",
    "q=%22ion+channel%22+-detergent",
    "technique=spa",
    "technique=spa&technique=subtomo&licence=CC0-1.0",
    "q=proteasome&technique=spa&detector=Gatan+K3",
    "pixel_size_min=0.8&pixel_size_max=1.2",
    "voltage_min=290&voltage_max=310&dose_max=40",
    "q=Müller",
    "sort=title&page=40",
    "year=2024&facility=bench-web",
]


def bench_search(loads: int) -> dict[str, Any]:
    """Each search of SEARCHES, as anonymous and as facility staff (who also see the
    facility's private datasets): "cold" clears the facet cache before every run (the cost of
    a new search), "warm" reuses it (paging or re-sorting the same search)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import AnonymousUser
    from django.core.cache import cache
    from django.http import QueryDict
    from django.test import Client

    from repository.search import DatasetQuery, search_page

    results: dict[str, Any] = {}
    staff = get_user_model().objects.get(username="bench-staff")
    runs = max(3, loads // 4)
    for who, user in (("anonymous", AnonymousUser()), ("facility_staff", staff)):
        for mode in ("cold", "warm"):
            samples: list[Sample] = []
            per_query = {}
            for query in SEARCHES:
                params, _ = DatasetQuery.from_query(QueryDict(query))
                search_page(user=user, query=params)  # warm the database's caches
                timed = _time(
                    lambda p=params, u=user: search_page(user=u, query=p),
                    runs,
                    before=cache.clear if mode == "cold" else None,
                )
                samples += timed
                per_query[query or "(all)"] = _summary(timed)
            results[f"{who}_{mode}"] = _summary(samples)
            results[f"{who}_{mode}_per_query"] = per_query
    client = Client(SERVER_NAME="localhost")
    page_samples: list[Sample] = []
    for query in SEARCHES:
        url = f"/datasets/?{query}"
        client.get(url)
        page_samples += _time(lambda u=url: client.get(u), runs, before=cache.clear)
    results["html_page_anonymous_cold"] = _summary(page_samples)
    params, _ = DatasetQuery.from_query(QueryDict(""))
    results["anonymous_total"] = search_page(user=AnonymousUser(), query=params).total
    results["staff_total"] = search_page(user=staff, query=params).total
    return results


def _rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def bench_manifest(big_pid: str) -> dict[str, Any]:
    """Stream the manifest through the page's view; memory is sampled as the process's RSS
    (and, in a second run, Python's own allocations with tracemalloc, which slows it down)."""
    from django.test import Client

    client = Client(SERVER_NAME="localhost")
    url = f"/datasets/{big_pid}/manifest.sha256"

    def stream(sample: Callable[[], None] | None = None) -> tuple[float, float, int, int]:
        started = time.perf_counter()
        response = client.get(url)
        assert response.status_code == 200
        lines = size = 0
        first_byte = 0.0
        for index, chunk in enumerate(response.streaming_content):
            if not first_byte:
                first_byte = time.perf_counter() - started
            lines += chunk.count(b"\n")
            size += len(chunk)
            if sample is not None and index % 50 == 0:
                sample()
        return time.perf_counter() - started, first_byte, lines, size

    # The process's first request loads URLconf, views and templates (~0.5 s): not the
    # manifest's cost, and a running server has paid it. Measured once apart, then warm.
    started = time.perf_counter()
    first = client.get(url)
    next(iter(first.streaming_content))
    first_request_first_byte = time.perf_counter() - started
    first.close()

    rss = [_rss_bytes()]
    backend = _backend_pid()
    cpu_before = _cpu_ns(backend)
    seconds, first_byte, lines, size = stream(lambda: rss.append(_rss_bytes()))
    cpu_after = _cpu_ns(backend) if _backend_pid() == backend else None
    assert lines == BIG_FILES, lines
    tracemalloc.start()
    traced_seconds, *_ = stream()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round((cpu_after - cpu_before) / 1e9, 2)
        if cpu_before is not None and cpu_after is not None
        else None,
        "first_byte_ms": round(first_byte * 1000, 1),
        "first_byte_of_the_processs_first_request_ms": round(first_request_first_byte * 1000, 1),
        "lines": lines,
        "megabytes": round(size / 1e6, 1),
        "rss_start_mib": round(rss[0] / 2**20, 1),
        "rss_max_mib": round(max(rss) / 2**20, 1),
        "rss_growth_mib": round((max(rss) - rss[0]) / 2**20, 1),
        "python_peak_mib": round(peak / 2**20, 1),
        "seconds_under_tracemalloc": round(traced_seconds, 2),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    prepare(args.database_url)
    from django.db import connection
    from django.db.backends.signals import connection_created

    # One backend for the whole run, without parallel workers: its on-CPU time is then all
    # the database work of a request (see _summary).
    connection.settings_dict["CONN_MAX_AGE"] = None

    def serial(sender: Any, connection: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")

    connection_created.connect(serial)
    connection.close()  # the next query opens a connection with the setting
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    loaded = load(args.reload)
    vacuum()
    print(f"data: {json.dumps(loaded)}", flush=True)
    parts = set(args.only or PARTS)
    path = RESULTS / "web.json"
    figures: dict[str, Any] = {}
    if parts != set(PARTS) and path.exists():  # keep the figures of the parts not run
        figures = json.loads(path.read_text())
    figures.update({"data": loaded, "load_average_before": os.getloadavg()})
    figures["parts_run"] = sorted(parts)
    if "landing" in parts:
        figures["landing"] = bench_landing(loaded["big_pid"], args.loads)
        print(f"landing (1,000,000 files): {json.dumps(figures['landing'])}", flush=True)
    if "search" in parts:
        figures["search"] = bench_search(args.loads)
        search = figures["search"]
        print(
            "search + facets (100,000 datasets): "
            + ", ".join(
                f"{key} {search[key]}"
                for key in (
                    "anonymous_cold",
                    "facility_staff_cold",
                    "anonymous_warm",
                    "facility_staff_warm",
                    "html_page_anonymous_cold",
                )
            ),
            flush=True,
        )
        slowest = sorted(
            (
                (figures_["p95_ms"], f"{key.removesuffix('_per_query')} {query}")
                for key, per_query in search.items()
                if key.endswith("_per_query")
                for query, figures_ in per_query.items()
            ),
            reverse=True,
        )[:5]
        print(f"slowest searches (p95 ms): {slowest}", flush=True)
    if "manifest" in parts:
        figures["manifest"] = bench_manifest(loaded["big_pid"])
        print(f"manifest (1,000,000 files): {json.dumps(figures['manifest'])}", flush=True)
    goals: dict[str, bool] = {}
    cpu_goals: dict[str, bool] = {}
    if "landing" in figures:
        landing = figures["landing"]["landing_uncached"]
        goals["landing_p95_under_300ms"] = landing["p95_ms"] < 300
        cpu_goals["landing_cpu_p95_under_300ms"] = landing.get("cpu_p95_ms", 1e9) < 300
    if "search" in figures:
        search = figures["search"]
        cold = ("anonymous_cold", "facility_staff_cold")
        goals["search_p95_under_200ms"] = max(search[k]["p95_ms"] for k in cold) < 200
        cpu_goals["search_cpu_p95_under_200ms"] = (
            max(search[k].get("cpu_p95_ms", 1e9) for k in cold) < 200
        )
    if "manifest" in figures:
        goals["manifest_under_10s"] = figures["manifest"]["seconds"] < 10
    figures["goals"] = goals
    figures["goals_on_cpu"] = cpu_goals
    figures["load_average_after"] = os.getloadavg()  # a shared machine: say how busy it was
    figures["cpus"] = os.cpu_count()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"goals (wall clock, this machine's load): {json.dumps(goals)}")
    print(f"goals (on-CPU server time): {json.dumps(cpu_goals)}  (details: bench/results/web.json)")
    return 0 if all(goals.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

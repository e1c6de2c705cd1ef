"""Folding COUNTER usage events into daily rows: 10^7 raw events over 30 days, 1,000 datasets
of 10 files each, on PostgreSQL (the aggregation is SQL with a window function).

Figures: the whole aggregation pass (every day recomputed) in seconds and events/s; as the
reference of the same run, one plain GROUP BY pass over the same events (reading them once),
so the cost of the double-click window shows as a ratio; and the recording cost: 5,000
``usage_record`` calls against 5,000 bare INSERTs of the same rows.

Needs ``DATABASE_URL=postgres://...``; it gets a dedicated database ``openem_bench_usage``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from typing import Any

from bench.common import fresh_postgres_database

NAME = "usage"
BENCH_DATABASE = "openem_bench_usage"
DAYS = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--usage-events", type=int, default=10_000_000, help="usage: raw events (10000000)"
    )


def prepare_environment(args: argparse.Namespace) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("usage: set DATABASE_URL=postgres://user@host:5432/anydb")
    os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, BENCH_DATABASE)


def _fill(events: int, last_day: dt.date) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from repository.models import DataFile, Dataset, Facility

    call_command("migrate", verbosity=0, interactive=False)
    owner = get_user_model().objects.create(username="bench")
    facility = Facility.objects.create(name="Bench facility", slug="bench")
    datasets = Dataset.objects.bulk_create(
        Dataset(title=f"Dataset {n}", technique="spa", facility=facility, owner=owner)
        for n in range(1000)
    )
    DataFile.objects.bulk_create(
        DataFile(
            dataset=dataset,
            path=f"f{n}.mrc",
            name=f"f{n}.mrc",
            size=1,
            storage_key=f"bench/{dataset.pk}/{n}",
        )  # fmt: skip
        for dataset in datasets
        for n in range(10)
    )
    first_file = DataFile.objects.order_by("id").values_list("id", flat=True).first()
    first_dataset = datasets[0].pk
    start = int(
        dt.datetime.combine(last_day - dt.timedelta(days=DAYS - 1), dt.time(), dt.UTC).timestamp()
    )
    with connection.cursor() as cursor:
        # 10^7 events: ~5 per session, a third requests of a file, some repeated within 30 s
        cursor.execute(
            """
            INSERT INTO stats_usageevent (at, day, dataset_pid, file_id, version, kind, machine, session)
            SELECT t, to_timestamp(t)::date, d.pid,
                   CASE WHEN mod(g, 3) = 0 THEN %s + mod(g, 1000) * 10 + mod(g, 10) END,
                   NULL, CASE WHEN mod(g, 3) = 0 THEN 'r' ELSE 'i' END, mod(g, 7) = 0,
                   substr(md5((g / 5)::text), 1, 16)
            FROM (SELECT g, %s + (g * 2592000::bigint / %s) + mod(g, 4) * 10 AS t
                  FROM generate_series(1, %s) g) s
            JOIN repository_dataset d ON d.id = %s + mod(s.g, 1000)
            """,
            [first_file, start, events, events, first_dataset],
        )
        cursor.execute("VACUUM ANALYZE stats_usageevent")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.test import RequestFactory

    from stats.models import DatasetUsageDaily, FileUsageDaily, UsageEvent
    from stats.recording import usage_record
    from stats.services import usage_aggregate

    events = args.usage_events
    last_day = dt.date(2026, 11, 30)
    started = time.perf_counter()
    _fill(events, last_day)
    fill_seconds = time.perf_counter() - started

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "SELECT day, dataset_pid, file_id, kind, machine, COUNT(*), COUNT(DISTINCT session)"
            " FROM stats_usageevent GROUP BY 1, 2, 3, 4, 5"
        )
        reference_rows = len(cursor.fetchall())
        reference_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = usage_aggregate(today=last_day + dt.timedelta(days=1))
    aggregate_seconds = time.perf_counter() - started
    dataset_rows = DatasetUsageDaily.objects.count()
    file_rows = FileUsageDaily.objects.count()

    request = RequestFactory().get(
        "/", HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
    )
    from django.contrib.auth.models import AnonymousUser

    request.user = AnonymousUser()
    pid = UsageEvent.objects.values_list("dataset_pid", flat=True).first() or ""
    calls = 5000
    from django.core.cache import cache

    from stats.recording import AGGREGATE_SOON_KEY

    # as between two passes: one is scheduled, so recording only inserts (in-process tasks
    # would otherwise run a pass per event here)
    cache.set(AGGREGATE_SOON_KEY, 1, 3600)
    started = time.perf_counter()
    for _ in range(calls):
        usage_record(request, kind="i", dataset_pid=pid)
    record_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(calls):
        UsageEvent.objects.create(
            at=n, day=last_day, dataset_pid=pid, kind="i", machine=False, session="0" * 16
        )
    insert_seconds = time.perf_counter() - started

    ratio = aggregate_seconds / reference_seconds
    return {
        "summary": (
            f"usage: {events:,} events over {len(result.days)} days aggregated in "
            f"{aggregate_seconds:.1f} s ({events / aggregate_seconds:,.0f} events/s; "
            f"{ratio:.2f}x one GROUP BY pass); recording {1000 * record_seconds / calls:.2f} ms "
            f"per event ({record_seconds / insert_seconds:.2f}x a bare INSERT)"
        ),
        "events": events,
        "days": len(result.days),
        "fill_seconds": round(fill_seconds, 1),
        "aggregate_seconds": round(aggregate_seconds, 2),
        "events_per_second": round(events / aggregate_seconds),
        "reference_group_by_seconds": round(reference_seconds, 2),
        "reference_rows": reference_rows,
        "ratio_to_reference": round(ratio, 2),
        "dataset_rows": dataset_rows,
        "file_rows": file_rows,
        "record_ms_per_event": round(1000 * record_seconds / calls, 3),
        "bare_insert_ms_per_event": round(1000 * insert_seconds / calls, 3),
        "record_to_insert_ratio": round(record_seconds / insert_seconds, 2),
    }

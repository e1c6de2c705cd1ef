"""Writes of the statistics app: folding raw usage events into daily COUNTER rows, and
importing the EMDB/EMPIAR cross-reference list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .models import (
    AggregationState,
    DailySalt,
    DatasetUsageDaily,
    EmdbEntry,
    FileUsageDaily,
    UsageEvent,
)

DOUBLE_CLICK_SECONDS = 30  # COUNTER: the same click within 30 s counts once
RAW_EVENT_DAYS = 2  # raw events (and their day's salt) are kept this many days after their day

# The events of one day that survive double-click filtering: an event is dropped when the same
# session did the same thing (kind) to the same item (dataset, file) at most 30 s before.
_KEPT_EVENTS = f"""
    SELECT e.dataset_pid, e.file_id, e.kind, e.machine, e.session FROM (
        SELECT dataset_pid, file_id, kind, machine, session, at,
               LAG(at) OVER (
                   PARTITION BY session, dataset_pid, file_id, kind ORDER BY at, id
               ) AS previous_at
        FROM stats_usageevent WHERE day = %s
    ) e
    WHERE e.previous_at IS NULL OR e.at - e.previous_at > {DOUBLE_CLICK_SECONDS}
"""  # noqa: S608 - built from constants; the day is a query parameter

_DATASET_ROWS = f"""
    INSERT INTO stats_datasetusagedaily
        (day, dataset_id, machine, investigations, unique_investigations, requests, unique_requests)
    SELECT %s, d.id, k.machine, COUNT(*), COUNT(DISTINCT k.session),
           SUM(CASE WHEN k.kind = 'r' THEN 1 ELSE 0 END),
           COUNT(DISTINCT CASE WHEN k.kind = 'r' THEN k.session END)
    FROM ({_KEPT_EVENTS}) k JOIN repository_dataset d ON d.pid = k.dataset_pid
    GROUP BY d.id, k.machine
"""  # noqa: S608 - built from constants

_FILE_ROWS = f"""
    INSERT INTO stats_fileusagedaily (day, datafile_id, dataset_id, machine, requests, unique_requests)
    SELECT %s, f.id, f.dataset_id, k.machine, COUNT(*), COUNT(DISTINCT k.session)
    FROM ({_KEPT_EVENTS}) k JOIN repository_datafile f ON f.id = k.file_id
    WHERE k.kind = 'r'
    GROUP BY f.id, f.dataset_id, k.machine
"""  # noqa: S608 - built from constants


@dataclass
class AggregationResult:
    days: list[dt.date] = field(default_factory=list)
    events: int = 0
    pruned_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "days": [day.isoformat() for day in self.days],
            "events": self.events,
            "pruned_events": self.pruned_events,
        }


def _aggregate_day(day: dt.date) -> None:
    DatasetUsageDaily.objects.filter(day=day).delete()
    FileUsageDaily.objects.filter(day=day).delete()
    with connection.cursor() as cursor:
        cursor.execute(_DATASET_ROWS, [day, day])
        cursor.execute(_FILE_ROWS, [day, day])


def usage_aggregate(*, today: dt.date | None = None) -> AggregationResult:
    """Recompute the daily rows of every day with events since the last pass, plus today and
    yesterday (an event committed late still lands), then drop raw events and salts of closed
    days. Idempotent: a day's rows are always recomputed whole from its raw events. Two passes
    never interleave (the state row is locked for the pass)."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    result = AggregationResult()
    with transaction.atomic():
        state = AggregationState.objects.select_for_update().first()
        if state is None:
            AggregationState.objects.create()
            state = AggregationState.objects.select_for_update().get()
        newest = UsageEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        days = set(
            UsageEvent.objects.filter(id__gt=state.last_event_id, id__lte=newest)
            .values_list("day", flat=True)
            .distinct()
        )
        recent = {today, today - dt.timedelta(days=1)}
        days |= set(
            UsageEvent.objects.filter(day__in=recent).values_list("day", flat=True).distinct()
        )
        for day in sorted(days):
            _aggregate_day(day)
        result.days = sorted(days)
        result.events = newest - state.last_event_id
        closed_before = today - dt.timedelta(days=RAW_EVENT_DAYS)
        result.pruned_events, _ = UsageEvent.objects.filter(day__lt=closed_before).delete()
        DailySalt.objects.filter(day__lt=today).delete()
        state.last_event_id = newest
        state.last_run = timezone.now()
        state.save(update_fields=["last_event_id", "last_run"])
    return result


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def emdb_entries_import(rows: list[tuple[int, dict[str, Any]]]) -> ImportReport:
    """Upsert validated EMDB entries (line number, cleaned row) in one transaction."""
    report = ImportReport()
    with transaction.atomic():
        existing = set(
            EmdbEntry.objects.filter(emdb_id__in=[row["emdb_id"] for _, row in rows]).values_list(
                "emdb_id", flat=True
            )
        )
        for _, row in rows:
            EmdbEntry.objects.update_or_create(
                emdb_id=row["emdb_id"],
                defaults={key: value for key, value in row.items() if key != "emdb_id"},
            )
            if row["emdb_id"] in existing:
                report.updated += 1
            else:
                report.created += 1
    return report

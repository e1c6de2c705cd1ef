"""``/metrics``: the ingest pipeline's figures for Prometheus, read when it scrapes.

- ``openem_queue_messages{queue}``: messages waiting in each Celery queue (Redis);
- ``openem_files{state}``: files not yet settled (registered, stored, processing);
- ``openem_oldest_unsettled_file_seconds{state}``: how long the oldest of them has waited in
  its state (alert on it: the reconciler hands back files idle for 30 minutes);
- ``openem_ingest_rate_files_per_second{outcome}``: files settled ``ready`` or ``failed`` over
  the last five minutes;
- ``openem_package_jobs{state}``: deposition packaging jobs queued, running or failed.

Every figure is an index range scan (``datafile_reconcile_idx`` on state and modified): a
scrape costs the same with 10^3 or 10^9 files. Served only with ``OPENEM_METRICS_TOKEN`` set,
to a request carrying it as a bearer token (Prometheus' ``authorization`` scrape setting);
otherwise the URL does not exist.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from openem.health import queue_depths

RATE_WINDOW = dt.timedelta(minutes=5)


class PipelineCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        from deposition.models import Deposition, PackageJob
        from repository.models import DataFile, FileState

        now = timezone.now()
        depths = queue_depths()
        if depths is not None:
            queues = GaugeMetricFamily(
                "openem_queue_messages", "Messages waiting in a Celery queue", labels=["queue"]
            )
            for name, depth in depths.items():
                queues.add_metric([name], depth)
            yield queues

        unsettled = (FileState.REGISTERED, FileState.STORED, FileState.PROCESSING)
        rows: dict[str, dict[str, Any]] = {
            row["state"]: dict(row)
            for row in DataFile.objects.filter(state__in=unsettled)
            .values("state")
            .annotate(n=Count("pk"), oldest=Min("modified"))
            .order_by()
        }
        files = GaugeMetricFamily("openem_files", "Files not yet settled", labels=["state"])
        oldest = GaugeMetricFamily(
            "openem_oldest_unsettled_file_seconds",
            "Seconds the oldest file in a state has waited in it",
            labels=["state"],
        )
        for state in unsettled:
            row = rows.get(state, {"n": 0, "oldest": None})
            files.add_metric([state.value], row["n"])
            age = (now - row["oldest"]).total_seconds() if row["oldest"] else 0.0
            oldest.add_metric([state.value], max(age, 0.0))
        yield files
        yield oldest

        rate = GaugeMetricFamily(
            "openem_ingest_rate_files_per_second",
            f"Files settled per second over the last {int(RATE_WINDOW.total_seconds())} s",
            labels=["outcome"],
        )
        for outcome in (FileState.READY, FileState.FAILED):
            settled = DataFile.objects.filter(state=outcome, modified__gte=now - RATE_WINDOW)
            rate.add_metric([outcome.value], settled.count() / RATE_WINDOW.total_seconds())
        yield rate

        jobs = dict(
            Deposition.objects.exclude(package_job=PackageJob.NONE)
            .values_list("package_job")
            .annotate(n=Count("pk"))
            .order_by()
        )
        packaging = GaugeMetricFamily(
            "openem_package_jobs", "Deposition packaging jobs", labels=["state"]
        )
        for job in (PackageJob.QUEUED, PackageJob.RUNNING, PackageJob.FAILED):
            packaging.add_metric([job.value], jobs.get(job.value, 0))
        yield packaging


def _authorised(request: HttpRequest) -> bool:
    token = settings.OPENEM_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(
        credentials.strip().encode(), token.encode()
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.OPENEM_METRICS_TOKEN:
        raise Http404("metrics are not enabled (OPENEM_METRICS_TOKEN)")
    if not _authorised(request):
        response = HttpResponse("a bearer token is required\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

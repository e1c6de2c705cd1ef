"""``/metrics``: Prometheus' figures of the pipeline, for a scraper with the token only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from deposition.models import Deposition, PackageJob
from repository.models import DataFile, FileState
from tests.factories import DataFileFactory, DatasetFactory
from tests.services import require_service

pytestmark = [pytest.mark.django_db]
TOKEN = "scrape-me-0123456789"


def _samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def _scrape(client: Any, token: str = TOKEN) -> Any:
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_no_token_configured_means_no_metrics_url(client, settings):
    settings.OPENEM_METRICS_TOKEN = ""
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 404
    assert b"openem_" not in response.content


@pytest.mark.parametrize(
    "header",
    ["", f"Basic {TOKEN}", "Bearer wrong-token", f"Bearer {TOKEN}x", "Bearer", f"Bearer{TOKEN}"],
)
def test_a_scrape_without_the_right_bearer_token_is_refused(client, settings, header):
    settings.OPENEM_METRICS_TOKEN = TOKEN
    response = (
        client.get("/metrics", HTTP_AUTHORIZATION=header) if header else client.get("/metrics")
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"openem_" not in response.content


def test_the_figures_count_what_the_database_holds(client, settings, world):
    settings.OPENEM_METRICS_TOKEN = TOKEN
    dataset = DatasetFactory(facility=world.facility)
    now = timezone.now()
    for n, (state, minutes) in enumerate(
        [
            (FileState.STORED, 40),
            (FileState.STORED, 2),
            (FileState.PROCESSING, 7),
            (FileState.READY, 1),
            (FileState.READY, 3),
            (FileState.READY, 90),  # settled long ago: not in the rate
            (FileState.FAILED, 4),
        ]
    ):
        datafile = DataFileFactory(dataset=dataset, path=f"m{n}.eer")
        DataFile.objects.filter(pk=datafile.pk).update(
            state=state, modified=now - dt.timedelta(minutes=minutes)
        )
    Deposition.objects.create(dataset=dataset, target="empiar", package_job=PackageJob.RUNNING)

    response = _scrape(client)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")  # Prometheus text format
    samples = _samples(response.content)
    assert samples[("openem_files", (("state", "stored"),))] == 2
    assert samples[("openem_files", (("state", "processing"),))] == 1
    assert samples[("openem_files", (("state", "registered"),))] == 0
    stored_age = samples[("openem_oldest_unsettled_file_seconds", (("state", "stored"),))]
    assert 40 * 60 - 5 <= stored_age <= 40 * 60 + 60
    assert samples[("openem_oldest_unsettled_file_seconds", (("state", "registered"),))] == 0
    ready_rate = samples[("openem_ingest_rate_files_per_second", (("outcome", "ready"),))]
    assert ready_rate == pytest.approx(2 / 300)
    failed_rate = samples[("openem_ingest_rate_files_per_second", (("outcome", "failed"),))]
    assert failed_rate == pytest.approx(1 / 300)
    assert samples[("openem_package_jobs", (("state", "running"),))] == 1
    assert samples[("openem_package_jobs", (("state", "queued"),))] == 0


def test_a_scrape_costs_a_fixed_number_of_queries(client, settings, world):
    settings.OPENEM_METRICS_TOKEN = TOKEN
    dataset = DatasetFactory(facility=world.facility)
    with CaptureQueriesContext(connection) as few:
        assert _scrape(client).status_code == 200
    for n in range(30):
        DataFileFactory(dataset=dataset, path=f"m{n}.eer")
    with CaptureQueriesContext(connection) as many:
        assert _scrape(client).status_code == 200
    assert len(many) == len(few) <= 5


@pytest.mark.services
def test_queue_depths_come_from_the_broker(client, settings):
    """Messages waiting in Redis are counted per queue (a real Redis, no worker consuming;
    keys of this test's own, so that no other run's queue is counted or touched)."""
    import uuid

    import redis

    from openem.celery import app
    from tests.services import redis_available, redis_url

    url = redis_url()
    if not redis_available(url):
        require_service(f"Redis at {url}")
    settings.OPENEM_METRICS_TOKEN = TOKEN
    prefix = f"openem-metrics-test-{uuid.uuid4().hex[:8]}:"
    conf = app.conf
    previous = (conf.broker_url, conf.task_always_eager, conf.broker_transport_options)
    conf.broker_url, conf.task_always_eager = url, False
    conf.broker_transport_options = {**(previous[2] or {}), "global_keyprefix": prefix}
    queue = redis.Redis.from_url(url)
    try:
        queue.rpush(f"{prefix}ingest", b"m1", b"m2", b"m3")
        queue.rpush(f"{prefix}export", b"p1")
        samples = _samples(_scrape(client).content)
    finally:
        queue.delete(f"{prefix}ingest", f"{prefix}export")
        conf.broker_url, conf.task_always_eager, conf.broker_transport_options = previous
    assert samples[("openem_queue_messages", (("queue", "ingest"),))] == 3
    assert samples[("openem_queue_messages", (("queue", "export"),))] == 1
    assert samples[("openem_queue_messages", (("queue", "default"),))] == 0

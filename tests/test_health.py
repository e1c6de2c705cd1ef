"""``/health/``: 200 and every check ``ok`` when the dependencies work, 503 naming the one that
does not (the compose health checks rely on it)."""

from __future__ import annotations

from typing import Any

import pytest

import storage
from bench import seaweedfs
from bench.common import free_port

pytestmark = [pytest.mark.django_db]


def _health(client: Any) -> tuple[int, dict[str, Any]]:
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    return response.status_code, response.json()


def test_the_embedded_default_is_healthy(client: Any, local_storage: Any) -> None:
    status, body = _health(client)
    assert status == 200
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "storage", "worker"}
    assert all(check["status"] == "ok" for check in body["checks"].values())
    assert body["checks"]["storage"]["backend"] == "local"
    assert "in-process" in body["checks"]["worker"]["detail"]


@pytest.mark.services
def test_s3_credentials_without_access_make_it_503(
    client: Any, s3_storage: Any, settings: Any
) -> None:
    status, body = _health(client)
    assert (status, body["checks"]["storage"]["status"]) == (200, "ok")
    settings.OPENEM_STORAGE = {
        **settings.OPENEM_STORAGE,
        "access_key": seaweedfs.OUTSIDER_KEY,
        "secret_key": seaweedfs.OUTSIDER_SECRET,
    }
    storage.reset_store_cache()
    status, body = _health(client)
    assert status == 503
    assert body["status"] == "fail"
    assert body["checks"]["storage"]["status"] == "fail"
    assert "no access to bucket" in body["checks"]["storage"]["error"]
    assert seaweedfs.OUTSIDER_SECRET not in str(body)
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.services
def test_a_live_worker_and_redis_are_reported_and_a_dead_broker_is_503(
    client: Any, celery_worker_process: Any, local_storage: Any
) -> None:
    from openem.celery import app

    status, body = _health(client)
    assert status == 200, body
    assert body["checks"]["worker"]["workers"] >= 1
    assert set(body["checks"]["redis"]["queues"]) == {"default", "ingest", "export"}

    celery_worker_process.process.terminate()  # the worker stops
    celery_worker_process.process.wait(timeout=30)
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["worker"]["status"] == "fail"
    assert "no Celery worker answered" in body["checks"]["worker"]["error"]

    app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    status, body = _health(client)
    assert status == 503
    assert body["checks"]["redis"]["status"] == "fail"

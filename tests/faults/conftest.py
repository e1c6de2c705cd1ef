"""Fixtures of the fault suite: each test has its own broker (a Redis server on a free loopback
port, never the shared one, which it restarts) and its own S3 server (SeaweedFS, which it stops
and starts again) behind a fault-injecting proxy (``bench.faultproxy``) that the portal and the
worker reach it through. PostgreSQL is the shared server: a test only ever terminates its own
worker's connections (by their ``application_name``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.faultproxy import FaultProxy
from bench.redisserver import RedisServer
from bench.seaweedfs import SeaweedFS
from tests.support.cli import cli, session_folder, token_for  # noqa: F401 - the mid-upload test
from tests.support.deposition import schemas  # noqa: F401 - a fixture of the packaging test


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def celery_broker_url(own_redis: RedisServer) -> str:
    """The worker of a fault test consumes from the test's own Redis."""
    return own_redis.url


@dataclass
class FaultS3:
    weed: SeaweedFS
    proxy: FaultProxy
    bucket: str


@pytest.fixture
def fault_s3(tmp_path: Path, settings: Any) -> Iterator[FaultS3]:
    """The portal's storage on a SeaweedFS of this test, reached through the fault proxy (the
    worker copies these settings: it goes through the proxy too)."""
    import storage

    weed = SeaweedFS(data_dir=tmp_path / "seaweedfs").start()
    proxy = FaultProxy(weed.endpoint_url).start()
    bucket = f"openem-faults-{uuid.uuid4().hex[:10]}"
    settings.OPENEM_STORAGE = {
        "backend": "s3",
        "bucket": bucket,
        "endpoint_url": proxy.endpoint_url,
        "public_endpoint_url": None,
        "access_key": weed.access_key,
        "secret_key": weed.secret_key,
        "region": weed.region,
        "addressing_style": "path",
    }
    storage.reset_store_cache()
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    store.ensure_bucket()
    try:
        yield FaultS3(weed=weed, proxy=proxy, bucket=bucket)
    finally:
        proxy.stop()
        weed.stop()
        storage.reset_store_cache()

"""Fixtures for the real services.

- ``s3_server``: SeaweedFS's S3 server in its own process on loopback ports, reached only
  through boto3 over HTTP with real credentials (exactly as MinIO or AWS would be): it checks
  signatures, presigned URLs (and their expiry) and part checksums.
- ``s3_storage``: switches the portal's storage to a fresh bucket on that server.
- ``celery_worker_process``: a real ``celery worker`` process against Redis and PostgreSQL.

Without Redis or PostgreSQL (a laptop running the embedded default), the tests that need them
skip with a message saying what is missing; CI sets ``OPENEM_REQUIRE_SERVICES=1``, which turns
such a skip into a failure so that nothing is skipped silently there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import seaweedfs
from bench.common import S3Server
from bench.common import s3_server as s3_server_process

ROOT = Path(__file__).resolve().parent.parent
S3_KEY = seaweedfs.ACCESS_KEY
S3_SECRET = seaweedfs.SECRET_KEY


def require_service(reason: str) -> None:
    """Skip with ``reason``, or fail in CI where every service must be there."""
    if os.environ.get("OPENEM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS, once per test session (it starts in about a second), on free loopback ports
    with its own data folder (``bench.seaweedfs``, the launcher the benchmarks use too)."""
    with s3_server_process(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3_storage(s3_server: S3Server, settings: Any) -> Iterator[S3Server]:
    """Point the portal's one storage module at a fresh bucket on the S3 server."""
    import storage

    bucket = f"openem-test-{uuid.uuid4().hex[:12]}"
    settings.OPENEM_STORAGE = s3_server.storage_settings(bucket)
    storage.reset_store_cache()
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    store.ensure_bucket()
    s3_server.bucket = bucket
    yield s3_server
    storage.reset_store_cache()


@pytest.fixture
def local_storage(tmp_path: Path, settings: Any) -> Iterator[Path]:
    import storage

    root = tmp_path / "objects"
    settings.OPENEM_STORAGE = {"backend": "local", "root": str(root)}
    storage.reset_store_cache()
    yield root
    storage.reset_store_cache()


def signed_for(url: str, method: str, server: Any) -> bool:
    """Whether the presigned ``url`` is valid for ``method``, checked the way S3 checks it:
    Signature V4 covers the method. (Checked offline with botocore's signer and the server's
    secret key, which says which method a URL is for; the S3 server itself refuses a URL used
    with another method, see tests/ingest/test_s3_server.py.)"""
    from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    values = dict(query)
    unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    request = AWSRequest(
        method=method, url=urlunsplit(parts._replace(query=urlencode(unsigned, quote_via=quote)))
    )
    request.context["timestamp"] = values["X-Amz-Date"]
    access_key, _day, region, service, _ = values["X-Amz-Credential"].split("/")
    auth = S3SigV4QueryAuth(
        Credentials(access_key, server.secret_key), service, region, int(values["X-Amz-Expires"])
    )
    canonical = auth.canonical_request(request)
    return (
        auth.signature(auth.string_to_sign(request, canonical), request)
        == values["X-Amz-Signature"]
    )


def stored_crc32(key: str) -> str:
    """The CRC32 S3 keeps for a multipart object of CRC32 parts: ``<composite>-<parts>``."""
    from storage import get_store

    store = get_store()
    head = store.client.head_object(Bucket=store.bucket, Key=key, ChecksumMode="ENABLED")
    return str(head["ChecksumCRC32"])


def composite_crc32(crc32s: list[str]) -> str:
    """What S3 computes for such an object from its parts' CRC32s (base64): the CRC32 of
    their bytes, one after the other, then ``-`` and the number of parts (as AWS does)."""
    import base64
    import zlib

    joined = b"".join(base64.b64decode(crc) for crc in crc32s)
    crc = base64.b64encode(zlib.crc32(joined).to_bytes(4, "big")).decode()
    return f"{crc}-{len(crc32s)}"


# --- Redis, PostgreSQL and a real Celery worker ----------------------------------------------------


def redis_url() -> str:
    return os.environ.get("OPENEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


#: This test run's broker keys: two runs on one machine (one Redis) never take each other's tasks.
BROKER_KEY_PREFIX = f"openem-test-{uuid.uuid4().hex[:12]}:"


def redis_available(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log: Path
    broker_url: str
    command: list[str] | None = None
    env: dict[str, str] | None = None
    #: The ``application_name`` of the worker's PostgreSQL connections (pg_stat_activity), so
    #: that a fault test can terminate this worker's connections and no one else's.
    application_name: str = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes (a crash: nothing is cleaned up)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def start_again(self) -> None:
        """A new worker process with the same settings (after :meth:`kill`)."""
        assert self.command is not None
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(  # noqa: S603
                self.command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_for_worker(self.process, self.log, ready_count=self.output().count("ready."))


def _database_url_for_worker(application_name: str = "") -> str:
    from django.db import connection

    config = connection.settings_dict
    if config["ENGINE"] != "django.db.backends.postgresql":
        require_service("a real Celery worker needs PostgreSQL: set DATABASE_URL=postgres://...")
    user = config.get("USER") or ""
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    query = f"?application_name={application_name}" if application_name else ""
    return f"postgres://{auth}{config.get('HOST') or '127.0.0.1'}:{config.get('PORT') or 5432}/{config['NAME']}{query}"


@pytest.fixture
def celery_broker_url() -> str:
    """The broker the worker fixture uses: the shared test Redis (``OPENEM_TEST_REDIS_URL``);
    the fault tests override it with a Redis server of their own, which they restart."""
    return redis_url()


@pytest.fixture
def celery_worker_process(
    transactional_db: Any, tmp_path: Path, settings: Any, celery_broker_url: str
) -> Iterator[WorkerProcess]:
    """A real worker process consuming from Redis, writing to the test database, using the
    same object storage as the test (copied from the current settings)."""
    from openem.celery import app

    broker = celery_broker_url
    if not redis_available(broker):
        require_service(f"a real Celery worker needs Redis at {broker}")
    worker_name = f"test-{uuid.uuid4().hex[:8]}"
    application_name = f"openem-worker-{worker_name}"
    database_url = _database_url_for_worker(application_name)
    import redis

    # This run's keys start empty, so that a message left by an earlier test never reaches this
    # worker; other runs' keys (another prefix) are left alone.
    client = redis.Redis.from_url(broker)
    stale = list(client.scan_iter(match=f"{BROKER_KEY_PREFIX}*", count=1000))
    if stale:
        client.delete(*stale)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("S3_", "DATABASE_URL", "CELERY_", "PYTEST", "DJANGO_SETTINGS"))
    }
    env.update(
        {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker,
            "CELERY_BROKER_KEY_PREFIX": BROKER_KEY_PREFIX,
            "DJANGO_SETTINGS_MODULE": "openem.settings",
            "OPENEM_DATA_DIR": str(tmp_path / "worker-var"),
            "CELERY_WORKER_PREFETCH_MULTIPLIER": "1",
        }
    )
    storage_config = settings.OPENEM_STORAGE
    if storage_config["backend"] == "s3":
        env.update(
            {
                "S3_BUCKET": storage_config["bucket"],
                "S3_ENDPOINT_URL": storage_config["endpoint_url"],
                "S3_ACCESS_KEY_ID": storage_config["access_key"],
                "S3_SECRET_ACCESS_KEY": storage_config["secret_key"],
                "S3_REGION": storage_config["region"],
            }
        )
    else:
        env["OPENEM_STORAGE_ROOT"] = storage_config["root"]
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "openem",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            "default,ingest,export",
            "-n",
            f"{worker_name}@%h",
        ]
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    previous = {
        "broker_url": app.conf.broker_url,
        "task_always_eager": app.conf.task_always_eager,
        "result_backend": app.conf.result_backend,
        "broker_transport_options": app.conf.broker_transport_options,
    }
    app.conf.update(
        broker_url=broker,
        task_always_eager=False,
        result_backend=broker,
        broker_transport_options={"global_keyprefix": BROKER_KEY_PREFIX},
    )
    _forget_connections(app)
    worker = WorkerProcess(
        process=process, log=log, broker_url=broker, command=command, env=env,
        application_name=application_name,
    )  # fmt: skip
    try:
        _wait_for_worker(process, log)
        yield worker
    finally:
        process = worker.process  # the one running now (a fault test may have started another)
        app.conf.update(**previous)
        _forget_connections(app)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # Close the test process's connections so pytest-django can flush/drop the database.
        from django.db import connections

        connections.close_all()


def _forget_connections(app: Any) -> None:
    """Drop the app's connection and producer pools, so the next message goes to the broker now
    configured: eager calls (earlier tests) build the pools with the eager-mode broker URL.

    Also clear celery's process-wide "a join would block" flag: eager calls made concurrently
    from live_server threads can leave it set, and result.get() would then refuse to wait.
    """
    from celery._state import _set_task_join_will_block

    app._pool = None  # kombu keeps pools per URL: the next acquire picks the configured broker's
    # The result backend is cached too (per app when thread-safe, else per thread).
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    _set_task_join_will_block(False)


def _wait_for_worker(process: subprocess.Popen[bytes], log: Path, ready_count: int = 0) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the Celery worker exited early:\n{log.read_text(errors='replace')}"
            )
        if log.read_text(errors="replace").count("ready.") > ready_count:
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"the Celery worker did not start in time:\n{log.read_text(errors='replace')}"
    )

"""What the benchmarks share: Django setup, timing, results files, the S3 server."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from bench import seaweedfs

ROOT = Path(__file__).resolve().parent.parent
# OPENEM_BENCH_RESULTS: another folder (a test's short run keeps the real figures).
RESULTS = Path(
    os.environ.get("OPENEM_BENCH_RESULTS") or Path(__file__).resolve().parent / "results"
)
MiB = 1024 * 1024
GiB = 1024 * MiB
T = TypeVar("T")


def setup_django() -> None:
    """Configure Django for a standalone benchmark process (idempotent)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openem.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def parse_size(text: str) -> int:
    """``"1GiB"``, ``"256MiB"``, ``"512M"``, ``"1073741824"`` -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?\s*", text, re.IGNORECASE)
    if not match:
        raise ValueError(f"not a size: {text!r} (try 1GiB or 256MiB)")
    factor = {"": 1, "K": 1024, "M": MiB, "G": GiB, "T": 1024 * GiB}[match.group(2).upper()]
    return int(float(match.group(1)) * factor)


def best_of(repeats: int, func: Callable[[], T]) -> tuple[float, list[float], T]:
    """(best seconds, all seconds, last result): the best run is the least disturbed one on a
    shared machine."""
    times = []
    result: Any = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return min(times), times, result


def interleaved(
    repeats: int, runs: dict[str, Callable[[], Any]]
) -> tuple[dict[str, float], dict[str, list[float]], dict[str, Any]]:
    """Time each function ``repeats`` times, taking turns (a, b, a, b, ...), so that each pair
    of numbers saw about the same load on a shared machine. Returns (best seconds by name, all
    seconds by name, last result by name)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Any] = {}
    for _ in range(repeats):
        for name, func in runs.items():
            started = time.perf_counter()
            results[name] = func()
            times[name].append(time.perf_counter() - started)
    return {name: min(values) for name, values in times.items()}, times, results


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m_at_end": round(load[0], 2),
    }


def write_results(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **figures}
    document["machine"] = machine()
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def rate(nbytes: int, seconds: float) -> float:
    """MiB/s, rounded for the report."""
    return round(nbytes / MiB / seconds, 1) if seconds > 0 else float("inf")


def fresh_postgres_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the PostgreSQL server of ``server_url``; return
    ``server_url`` pointing at it (a benchmark's own database, afresh each run)."""
    import psycopg2

    parts = urlsplit(server_url)
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


# --- the S3 server (SeaweedFS), as the tests start it ------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class OwnServices:
    """A bench run's own Redis and SeaweedFS on free loopback ports (never the shared ones),
    and a bucket name of its own."""

    def __init__(self, workdir: Path, name: str):
        from bench.redisserver import RedisServer
        from bench.seaweedfs import SeaweedFS

        self.workdir = workdir
        self.redis = RedisServer(workdir / "redis").start()
        self.weed = SeaweedFS(data_dir=workdir / "seaweedfs").start()
        self.bucket = f"bench-{name}-{uuid.uuid4().hex[:8]}"

    def stop(self) -> None:
        self.weed.stop()
        self.redis.stop()


@dataclass
class S3Server:
    """The S3 server of a test or benchmark run (SeaweedFS, ``bench.seaweedfs``) and the bucket
    in use; ``weed`` is the process itself (to stop, restart or measure it)."""

    endpoint_url: str
    bucket: str = ""
    access_key: str = seaweedfs.ACCESS_KEY
    secret_key: str = seaweedfs.SECRET_KEY
    region: str = seaweedfs.REGION
    weed: seaweedfs.SeaweedFS | None = None

    @property
    def pid(self) -> int:
        return self.weed.pid if self.weed else 0

    def storage_settings(self, bucket: str | None = None) -> dict[str, Any]:
        return {
            "backend": "s3",
            "bucket": bucket or self.bucket,
            "endpoint_url": self.endpoint_url,
            "public_endpoint_url": None,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region": self.region,
            "addressing_style": "path",
        }

    def env(self, bucket: str | None = None) -> dict[str, str]:
        return {
            "S3_BUCKET": bucket or self.bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_REGION": self.region,
        }


@contextlib.contextmanager
def s3_server(data_dir: Path) -> Iterator[S3Server]:
    """SeaweedFS on free loopback ports with its own data folder in ``data_dir``, and a fresh
    bucket name; stopped afterwards."""
    with seaweedfs.seaweedfs(data_dir) as weed:
        yield S3Server(weed.endpoint_url, f"bench-{uuid.uuid4().hex[:10]}", weed=weed)


@contextlib.contextmanager
def s3_store(server: S3Server) -> Iterator[Any]:
    """The portal's S3 store on ``server``; this process's storage settings are switched for
    the block and restored after it (a later benchmark may use local storage)."""
    from django.conf import settings

    import storage

    previous = settings.OPENEM_STORAGE
    settings.OPENEM_STORAGE = server.storage_settings()
    storage.reset_store_cache()
    try:
        store = storage.get_store()
        assert isinstance(store, storage.S3Store)
        store.ensure_bucket()
        yield store
    finally:
        settings.OPENEM_STORAGE = previous
        storage.reset_store_cache()

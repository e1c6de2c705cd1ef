"""``/health/``: is each dependency of the portal usable now? The compose health checks and
monitoring read it: HTTP 200 when every check passes, 503 when one fails, with a JSON body
naming each check (``database``, ``redis``, ``storage``, ``worker``), its state and, when it
fails, why. The queues' depths (messages waiting in Redis) come with it.

No secrets and no object names are shown: the answer is public, like any health check's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

QUEUES = ("default", "ingest", "export")


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"vendor": connection.vendor}


def _broker() -> tuple[Any, str]:
    from openem.celery import app

    return app, str(app.conf.broker_url or "")


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue (Redis), or None when tasks run in-process."""
    app, url = _broker()
    if app.conf.task_always_eager or not url.startswith(("redis://", "rediss://")):
        return None
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    prefix = (app.conf.broker_transport_options or {}).get("global_keyprefix", "")
    depths: dict[str, Any] = {name: client.llen(f"{prefix}{name}") for name in QUEUES}
    return {name: int(depth) for name, depth in depths.items()}


def _redis() -> dict[str, Any]:
    depths = queue_depths()  # a failed connection raises: the check fails, saying why
    if depths is None:
        return {"detail": "not used: tasks run in-process"}
    return {"queues": depths}


def _storage() -> dict[str, Any]:
    import storage

    store = storage.get_store()
    if isinstance(store, storage.S3Store):
        store.check_access()
        return {"backend": "s3"}
    return {"backend": "local"}


def _worker() -> dict[str, Any]:
    app, _url = _broker()
    if app.conf.task_always_eager:
        return {"detail": "not used: tasks run in-process"}
    replies = app.control.ping(timeout=1.0)
    if not replies:
        raise RuntimeError("no Celery worker answered within 1 s")
    return {"workers": len(replies)}


CHECKS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": _database,
    "redis": _redis,
    "storage": _storage,
    "worker": _worker,
}


def run_checks() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            result = {"status": "ok", **check()}
        except Exception as exc:  # any failure of a dependency is a failed check, said plainly
            healthy = False
            result = {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:500]}
        result["seconds"] = round(time.perf_counter() - started, 3)
        results[name] = result
    return healthy, results


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    healthy, checks = run_checks()
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )

"""The Celery app. Workers: ``celery -A openem worker -Q ingest,export,default``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openem.settings")

app = Celery("openem")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("ingest"), Queue("export"))
app.conf.task_routes = {
    "ingest.*": {"queue": "ingest"},
    "deposition.*": {"queue": "export"},
}
app.autodiscover_tasks()


@signals.task_prerun.connect
def _drop_broken_database_connections(task: Any = None, **_: Any) -> None:
    """Before each task, close a database connection that broke (the server terminated it, a
    restart, a network cut) or outlived ``CONN_MAX_AGE``, as Django does before each request.

    Celery's own per-task close is off (``CELERY_DB_REUSE_MAX`` keeps connections across
    tasks, for speed), and Django never reconnects a connection object by itself: without this,
    one terminated connection failed every later task of that worker process with "connection
    already closed" (tests/faults/test_database_connections_killed.py). A healthy connection is
    kept: this costs no query unless the last task saw a database error.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return  # in-process: the caller's connection and transaction, not the worker's
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()

"""The Celery app. Workers: ``celery -A openem worker -Q ingest,export,default``."""

from __future__ import annotations

import os

from celery import Celery
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

"""gunicorn's settings for the portal: gunicorn reads ``./gunicorn.conf.py`` by itself when it
starts in the project folder (the Dockerfile's and compose's command; ``python -m bench load``).

Threads for concurrency (``gthread``): a request mostly waits on PostgreSQL, Redis or S3, and
a thread costs far less memory than a process. Each thread keeps one persistent PostgreSQL
connection (``DATABASE_CONN_MAX_AGE``), so the web's connections are at most
``GUNICORN_WORKERS x GUNICORN_THREADS``; with the Celery workers' processes they must stay
below the server's ``max_connections`` (README, "Production settings").
"""

from __future__ import annotations

import os


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a whole number >= 1, not {raw!r}")
    return int(raw)


worker_class = "gthread"
workers = _count("GUNICORN_WORKERS", 2)
threads = _count("GUNICORN_THREADS", 4)
# Long enough for a streamed ZIP or manifest to start; downloads themselves go to S3.
timeout = _count("GUNICORN_TIMEOUT", 120)
graceful_timeout = 30
keepalive = 5

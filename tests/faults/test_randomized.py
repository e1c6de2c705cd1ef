"""The randomized fault run in its short form (CI): ``python -m bench faults`` with a handful of
faults drawn from the suite's list (worker SIGKILL, Redis restart, pg_terminate_backend, S3
restart, 500/503/SlowDown, stalls) over a small ingest, in its own processes (its own Redis,
SeaweedFS, worker and database). Nothing lost, stuck, duplicated, left open or changed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.services import ROOT, require_service

pytestmark = pytest.mark.services


def test_a_short_randomized_fault_run_loses_nothing() -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        require_service("the randomized fault run needs PostgreSQL: set DATABASE_URL")
    database = f"openem_faults_{uuid.uuid4().hex[:8]}"  # its own: runs side by side never meet
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    try:
        result = subprocess.run(  # noqa: S603
            [
                sys.executable, "-m", "bench", "faults", "--fault-files", "120",
                "--fault-count", "6", "--fault-timeout", "240", "--fault-seed", "7",
                "--fault-database", database,
            ],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        _drop(database_url, database)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    summary = result.stdout.strip().splitlines()[-1]
    figures = dict(
        re.findall(r"(lost|stuck|duplicates|orphans|checksum mismatches) (\d+)", summary)
    )
    assert figures == {
        "lost": "0", "stuck": "0", "duplicates": "0", "orphans": "0", "checksum mismatches": "0",
    }, summary  # fmt: skip
    assert "6 faults over 120 files" in summary
    assert "goal met" in summary


def _drop(server_url: str, name: str) -> None:
    import psycopg2

    parts = urlsplit(server_url)
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres", query="")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()

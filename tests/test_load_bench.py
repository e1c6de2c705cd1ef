"""The load test in its short form (CI): ``python -m bench load`` with 5 users for 10 s, in its
own processes (gunicorn with the production settings behind a loopback "proxy", a Celery
worker, its own Redis, SeaweedFS and database). No request fails, every endpoint class is
hit, the upload is ingested, PostgreSQL connections stay within the budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.load import ENDPOINT_CLASSES
from tests.services import ROOT, require_service

pytestmark = pytest.mark.services


def test_a_short_load_run_has_no_errors_and_hits_every_endpoint(tmp_path: Path) -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        require_service("the load test needs PostgreSQL: set DATABASE_URL")
    database = f"openem_load_{uuid.uuid4().hex[:8]}"  # its own: runs side by side never meet
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["OPENEM_BENCH_RESULTS"] = str(tmp_path)  # the real run's figures stay
    # As after the browser tests in the same run (their Playwright needs it): the bench must
    # keep it out of the portal's processes and its `check --deploy`.
    env["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        result = subprocess.run(  # noqa: S603
            [
                sys.executable, "-m", "bench", "load", "--users", "5", "--duration", "10",
                "--pause", "0.5", "--load-datasets", "30", "--load-files", "500",
                "--load-database", database,
            ],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        _drop(database_url, database)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    figures = json.loads((tmp_path / "load.json").read_text())
    assert figures["errors"] == 0, figures["failures"]
    assert figures["endpoint_classes_missing"] == []
    for endpoint_class in ENDPOINT_CLASSES:
        hits = sum(
            row["requests"] for name, row in figures["endpoints"].items()
            if name.startswith(endpoint_class)
        )  # fmt: skip
        assert hits > 0, endpoint_class
    assert figures["proxy"]["plain_http_status"] == 301  # plain HTTP goes to HTTPS
    assert figures["proxy"]["ok"], figures["proxy"]
    assert figures["upload_files"] > 0
    assert figures["upload_ingest_states"] == {"ready": figures["upload_files"]}
    connections = figures["db_connections"]
    assert connections["samples"] > 0, connections["error"]
    assert 0 < connections["peak_web"] <= 2 * 4  # gunicorn's workers x threads, no more
    assert connections["peak_server"] < connections["max_connections"]
    assert figures["check_deploy"]["returncode"] == 0, figures["check_deploy"]
    assert figures["goal_met"]
    assert "0 errors" in result.stdout


def _drop(server_url: str, name: str) -> None:
    import psycopg2

    parts = urlsplit(server_url)
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres", query="")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def test_the_portal_processes_never_inherit_a_test_harness_setting(monkeypatch) -> None:
    """The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE for their session; a later load run's
    gunicorn, worker and `check --deploy` must not inherit it (check --deploy: async.E001)."""
    from bench import load

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "x")
    env = load.deployment_env()
    assert "DJANGO_ALLOW_ASYNC_UNSAFE" not in env and "PYTEST_CURRENT_TEST" not in env
    assert env["PATH"] == os.environ["PATH"]

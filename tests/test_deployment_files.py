"""docker-compose.yml cannot be run here (no Docker engine): check that it is complete and
consistent with the settings instead."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_describes_the_full_stack_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "minio", "createbucket", "web", "worker", "beat"} <= set(services)
    for name in ("db", "redis", "minio", "web"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    worker_command = " ".join(services["worker"]["command"])
    assert "-Q default,ingest,export" in worker_command
    env = services["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "mc mb" in services["createbucket"]["entrypoint"]
    assert set(compose["volumes"]) >= {"pgdata", "miniodata"}


def test_every_setting_read_from_the_environment_is_documented():
    settings_text = (ROOT / "openem" / "settings.py").read_text()
    names = set(
        re.findall(
            r'(?:env\.\w+|_bool|_int|_float|_throttle_rate)\(\s*"([A-Z][A-Z0-9_]+)"', settings_text
        )
    )
    assert {"DATABASE_URL", "S3_BUCKET", "CELERY_BROKER_URL"} <= names
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    missing_example = sorted(n for n in names if f"{n}=" not in example)
    missing_readme = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing_example, f"not in .env.example: {missing_example}"
    assert not missing_readme, f"not in the README's configuration table: {missing_readme}"


def test_the_wsgi_app_freezes_what_it_loads_at_start(tmp_path):
    import os
    import subprocess
    import sys

    code = (
        "import gc, openem.wsgi as w; "
        "print(gc.get_freeze_count(), callable(w.application), "
        "'repository.api.views' in __import__('sys').modules)"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "S3_"))
    }
    env.update(OPENEM_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="openem.settings")
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    frozen, callable_app, views_loaded = result.stdout.split()
    assert int(frozen) > 10_000, result.stderr  # Django, the apps and their views
    assert callable_app == "True" and views_loaded == "True"


def test_the_image_builds_the_front_end_from_the_lock_file():
    """The web form's uploader, htmx and ReDoc are built into the image, as `make assets` does."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "npm ci" in dockerfile and "npm run build" in dockerfile
    assert "python -m openem.assets" in dockerfile
    assert "COPY --from=assets /app/static/vendor ./static/vendor" in dockerfile
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "node_modules", "static/vendor", "var"} <= set(ignored)
    makefile = (ROOT / "Makefile").read_text()
    assert "$(PY) -m openem.assets" in makefile

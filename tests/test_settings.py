"""Bad configuration fails at start with a clear message (and no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("S3_", "DATABASE_URL", "CELERY_", "REDIS_", "DJANGO_", "OPENEM_"))
    }
    clean.update({"OPENEM_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_embedded_default_needs_no_environment(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql-ish://nowhere"}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL must point to PostgreSQL"),
        ({"S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "S3_BUCKET is missing"),
        ({"S3_BUCKET": "b", "S3_ENDPOINT_URL": "not a url"}, "S3_ENDPOINT_URL"),
        ({"CELERY_BROKER_URL": "nowhere"}, "CELERY_BROKER_URL"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be true or false"),
        ({"OPENEM_PRESIGN_EXPIRY": "soon"}, "OPENEM_PRESIGN_EXPIRY must be a whole number"),
        ({"OPENEM_FIXITY_FRACTION": "2"}, "OPENEM_FIXITY_FRACTION must be between"),
        ({"OPENEM_PUBLIC_DEPLOYMENT": "true"}, "DJANGO_SECRET_KEY must be set"),
    ],
)
def test_bad_configuration_fails_with_a_clear_message(tmp_path, env, message):
    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_full_stack_settings_are_read_from_the_environment(tmp_path):
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','openem.settings'); "
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.OPENEM_STORAGE['backend'], "
        "settings.OPENEM_STORAGE['bucket'], settings.CELERY_TASK_ALWAYS_EAGER, "
        "settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix'])"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("S3_", "DATABASE_URL", "CELERY_"))
    }
    env.update(
        DATABASE_URL="postgres://u@127.0.0.1:5432/db",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        CELERY_BROKER_KEY_PREFIX="portal-a:",
        S3_BUCKET="em-data",
        S3_ENDPOINT_URL="http://127.0.0.1:9000",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )  # noqa: S603
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "s3",
        "em-data",
        "False",
        "portal-a:",
    ], result.stderr


def _database_settings(**extra: str) -> list[str]:
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE','openem.settings'); "
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "S3_"))}
    env.update(extra)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_postgresql_connections_persist_and_are_health_checked(tmp_path):
    """Each gunicorn thread keeps one connection (the budget in README); a connection the
    server dropped is replaced before a request uses it."""
    url = "postgres://u@127.0.0.1:5432/db"
    assert _database_settings(DATABASE_URL=url) == ["60", "True"]
    assert _database_settings(
        DATABASE_URL=url, DATABASE_CONN_MAX_AGE="0", DATABASE_CONN_HEALTH_CHECKS="false"
    ) == ["0", "False"]
    assert _database_settings(OPENEM_DATA_DIR=str(tmp_path)) == ["0", "False"]  # SQLite


def test_bad_connection_settings_fail_with_a_clear_message(tmp_path):
    result = run_check(
        tmp_path, DATABASE_URL="postgres://u@127.0.0.1:5432/db", DATABASE_CONN_MAX_AGE="forever"
    )
    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr


def test_in_process_celery_does_not_warn_about_a_missing_broker_hostname(tmp_path):
    """`make run` printed kombu's "No hostname was supplied" on every task."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("S3_", "DATABASE_URL", "CELERY_", "REDIS_", "DJANGO_", "OPENEM_"))
    }
    clean.update({"OPENEM_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "openem.settings"})
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from openem.celery import app\n"
        "assert settings.CELERY_TASK_ALWAYS_EAGER\n"
        "app.connection_for_write().info()\n"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "No hostname was supplied" not in result.stderr

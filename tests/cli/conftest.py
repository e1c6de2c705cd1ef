"""Fixtures for the CLI tests: the portal served over HTTP by pytest-django's ``live_server``
(transactional database; ingest runs in-process in the server thread), API tokens for the
personas, and a ``cli(...)`` runner that calls ``openem_client.cli.main`` in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache

from openem.celery import app as celery_app
from repository.models import Dataset
from repository.services import dataset_create
from tests.support.cli import MiB, cli, session_folder, token_for  # noqa: F401


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No config, state or credentials of the machine running the tests; no throttle history."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("OPENEM_URL", raising=False)
    monkeypatch.delenv("OPENEM_TOKEN", raising=False)
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def eager() -> Iterator[None]:
    """Ingest runs when a file is stored (in the live server's thread), as in the embedded
    default."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def builtin_schemas(transactional_db: Any) -> None:
    """The built-in metadata schemas, which a data migration loads but a transactional test's
    flush removes; ingest validates a settled dataset against them."""
    from metadata.registry import schema_load_builtins

    schema_load_builtins()


@pytest.fixture
def dataset(world: Any, builtin_schemas: None) -> Dataset:
    return dataset_create(
        actor=world["staff"],
        facility=world.facility,
        project=world.project,
        technique="spa",
        title="Apoferritin from the command line",
        keywords=["apoferritin"],
    )


@pytest.fixture
def small_parts(settings: Any) -> None:
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * MiB  # S3's minimum: a few MiB make several parts

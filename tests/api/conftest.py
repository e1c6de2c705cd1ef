"""Fixtures for the API tests: clients per persona (authenticated with real API tokens), and
files whose bytes are really stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from repository.models import DataFile
from tests.support.api import (
    client_for,  # noqa: F401
    stored_file,
)


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> None:
    """Throttling keeps request history in the cache; each test starts with none."""
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def store_file(local_storage: Any) -> Callable[..., DataFile]:
    """``store_file(dataset, "Images/a.mrc", b"...")``: :func:`stored_file` on local storage."""
    return stored_file

"""Fixtures for the API tests: clients per persona (authenticated with real API tokens), and
files whose bytes are really stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from repository import tokens
from repository.models import DataFile, TokenScope
from tests.support.api import stored_file


@pytest.fixture(autouse=True)
def _fresh_throttle_history() -> None:
    """Throttling keeps request history in the cache; each test starts with none."""
    cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(world: Any) -> Callable[..., APIClient]:
    """``client_for("curator")``: a client sending that persona's new API token
    (``scope="read"`` for a read-only one); anonymous sends nothing."""

    def make(persona: str, scope: str = TokenScope.READ_WRITE) -> APIClient:
        client = APIClient()
        if persona != "anonymous":
            _token, secret = tokens.token_create(
                user=world[persona], name=f"{persona} tests", scope=scope
            )
            client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
        return client

    return make


@pytest.fixture
def store_file(local_storage: Any) -> Callable[..., DataFile]:
    """``store_file(dataset, "Images/a.mrc", b"...")``: :func:`stored_file` on local storage."""
    return stored_file

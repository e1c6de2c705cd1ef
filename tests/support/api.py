"""Helpers of the API tests (and of other tests that call the API): files with stored bytes, a
rows in bulk, and the one error shape every API error has."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from repository import tokens
from repository.models import DataFile, Dataset, FileState, TokenScope
from repository.paths import split_path
from storage import get_store


def stored_file(
    dataset: Dataset, path: str, content: bytes, *, state: str = FileState.READY, **extra: Any
) -> DataFile:
    """A DataFile of ``dataset`` whose bytes are in the configured storage and whose checksum
    is set, as ingest leaves it."""
    directory, name = split_path(path)
    key = f"datasets/{dataset.pid}/files/{hashlib.md5(path.encode()).hexdigest()}"  # noqa: S324
    get_store().put(key, content)
    return DataFile.objects.create(
        dataset=dataset,
        path=path,
        directory=directory,
        name=name,
        size=len(content),
        storage_key=key,
        checksum_sha256=hashlib.sha256(content).hexdigest(),
        state=state,
        **extra,
    )


def bulk_files(dataset: Dataset, paths: list[str], **fields: Any) -> None:
    """Rows for ``paths`` (no bytes in storage), in one insert, in the order given."""
    DataFile.objects.bulk_create(
        DataFile(
            dataset=dataset,
            path=path,
            directory=path.rpartition("/")[0],
            name=path.rpartition("/")[2],
            size=100 + index,
            storage_key=f"datasets/{dataset.pid}/files/{uuid.uuid4().hex}",
            state=FileState.READY,
            **fields,
        )
        for index, path in enumerate(paths)
    )


def error_of(response: Any) -> dict[str, Any]:
    """The error object of a response, after checking it has the one shape and no traceback."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.content.decode()
    return dict(error)


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

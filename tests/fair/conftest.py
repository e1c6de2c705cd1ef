"""A published dataset with two versions, the shape every FAIR surface describes."""

from __future__ import annotations

from typing import Any

import pytest

from repository import services, versions
from tests.support.fair import FILES, make_dataset


@pytest.fixture
def published(world: Any, local_storage: Any) -> Any:
    """v1 of a public dataset, its three files in (local) storage."""
    dataset = make_dataset(world, files=FILES)
    services.dataset_publish(actor=world["curator"], dataset=dataset, visibility="public")
    dataset.refresh_from_db()
    assert versions.version_latest_published(dataset) is not None
    return dataset

"""Done when: publishing a demo dataset twice, with a real Celery worker on PostgreSQL and Redis,
gives v1 and v2, a concept DOI and two version DOIs on the fake DataCite server, linked."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from publishing.models import DoiRegistration, DoiState
from repository import services, versions
from repository.models import DatasetStatus
from tests.support.datacite import PREFIX, datacite_settings, new_dataset, related

pytestmark = pytest.mark.services


@pytest.fixture
def doi_worker(
    request: pytest.FixtureRequest,
    transactional_db: Any,
    datacite: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """A real worker whose environment points at the fake DataCite server."""
    for name, value in datacite_settings(datacite).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENEM_DATACITE_MAX_RETRIES", "3")
    return request.getfixturevalue("celery_worker_process")


def wait_for(check: Callable[[], bool], what: str, worker: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.output()[-4000:]}")


def states(dataset: Any) -> dict[str, str]:
    return {
        r.doi: r.state
        for r in DoiRegistration.objects.filter(dataset=dataset).select_related("version")
    }


def test_publishing_a_demo_dataset_twice_on_a_real_worker(
    world: Any, datacite: Any, doi_worker: Any
) -> None:
    dataset = new_dataset(world)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset, notes="more data")
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.PUBLISHED
    assert [v.number for v in versions.versions_published(dataset)] == [1, 2]

    concept, v1, v2 = (f"{PREFIX}/{dataset.pid}" + s for s in ("", ".v1", ".v2"))
    wait_for(
        lambda: states(dataset) == {concept: "findable", v1: "findable", v2: "findable"},
        "three findable DOIs",
        doi_worker,
    )
    held = datacite.dois()
    assert {held[d.lower()]["state"] for d in (concept, v1, v2)} == {"findable"}
    concept_links = related(held[concept.lower()]["attributes"])
    assert {("HasVersion", v1.lower()), ("HasVersion", v2.lower())} <= concept_links
    for doi in (v1, v2):
        assert ("IsVersionOf", concept.lower()) in related(held[doi.lower()]["attributes"])
    assert ("IsPreviousVersionOf", v2.lower()) in related(held[v1.lower()]["attributes"])
    assert "publishing.register_doi" in doi_worker.output()


def test_a_worker_retries_an_outage_with_backoff_and_the_doi_becomes_findable(
    doi_worker: Any, world: Any, datacite: Any
) -> None:
    datacite.fault("error", status=503, count=2)  # two faults, then DataCite is back
    dataset = new_dataset(world)  # reserves the concept DOI: the first fault
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    wait_for(
        lambda: set(states(dataset).values()) == {DoiState.FINDABLE},
        "the DOIs to become findable after the outage",
        doi_worker,
    )
    statuses = [c["status"] for c in datacite.calls()]
    assert statuses.count(503) == 2 and statuses[-1] in (200, 201)
    assert "Retry in" in doi_worker.output()

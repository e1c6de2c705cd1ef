"""While a session is acquiring, files settled one by one aggregate their dataset at most once
per period, and a settle follows the last of them; closing the session aggregates once more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from demo import seed as demo
from ingest import services, tasks
from ingest.services import datafile_process
from ingest.uploads import upload_session_complete, upload_session_create
from openem.celery import app as celery_app
from tests.support.pipeline import new_dataset, store


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """Tasks go to a broker (not in-process); the settles queued for later are recorded."""
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(
        tasks.settle_dataset,
        "apply_async",
        lambda args, countdown: sent.append((*args, countdown)),
    )
    cache.clear()
    yield sent
    cache.clear()


def _sidecars_aggregated(dataset: Any) -> int:
    dataset.refresh_from_db()
    files = {p["file"] for p in dataset.metadata.get("_provenance", {}).values()}
    if not files:
        return 0
    (described,) = files
    return 1 + int(described.split(" and ")[1].split()[0]) if " and " in described else 1


def _acquire(world: Any, session: Any, numbers: range) -> Iterator[Any]:
    """As the microscope writes them: each file arrives once the one before was ingested."""
    for i in numbers:
        datafile = store(world, session, f"TS_{i:02d}.mrc.mdoc", demo.mdoc_text(f"TS_{i:02d}.mrc"))
        assert datafile_process(datafile.pk) == "ready"
        yield datafile


def test_an_acquiring_session_aggregates_once_a_period_and_after_its_last_file(
    world, local_storage, queued
):
    dataset = new_dataset(world, technique="tomography")
    session = upload_session_create(actor=world["staff"], dataset=dataset, acquiring=True)
    for _ in _acquire(world, session, range(4)):
        pass

    assert _sidecars_aggregated(dataset) == 1  # the first file aggregated at once
    assert queued == [(dataset.pk, services.ACQUIRING_SETTLE_SECONDS)]  # one settle, later
    assert tasks.settle_dataset(dataset.pk)  # ...which aggregates all four
    assert _sidecars_aggregated(dataset) == 4


def test_closing_the_session_aggregates_the_files_left_for_later(world, local_storage, queued):
    dataset = new_dataset(world, technique="tomography")
    session = upload_session_create(actor=world["staff"], dataset=dataset, acquiring=True)
    for _ in _acquire(world, session, range(3)):
        pass
    assert _sidecars_aggregated(dataset) == 1

    upload_session_complete(actor=world["staff"], session=session)
    # Closed: no acquiring session holds the settle back any more.
    assert services.dataset_settle_if_done(dataset.pk)
    assert _sidecars_aggregated(dataset) == 3
    late = store(
        world,
        upload_session_create(actor=world["staff"], dataset=dataset),
        "TS_09.mrc.mdoc",
        demo.mdoc_text("TS_09.mrc"),
    )
    datafile_process(late.pk)
    assert _sidecars_aggregated(dataset) == 4  # a session that is not acquiring settles at once


def test_without_a_broker_every_file_settles_in_process(world, local_storage):
    dataset = new_dataset(world, technique="tomography")
    session = upload_session_create(actor=world["staff"], dataset=dataset, acquiring=True)
    for count, _ in enumerate(_acquire(world, session, range(3)), start=1):
        assert _sidecars_aggregated(dataset) == count


def test_a_broker_that_is_down_settles_now_rather_than_never(
    world, local_storage, queued, monkeypatch
):
    def refuse(args: Any, countdown: int) -> None:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(tasks.settle_dataset, "apply_async", refuse)
    dataset = new_dataset(world, technique="tomography")
    session = upload_session_create(actor=world["staff"], dataset=dataset, acquiring=True)
    for count, _ in enumerate(_acquire(world, session, range(2)), start=1):
        assert _sidecars_aggregated(dataset) == count

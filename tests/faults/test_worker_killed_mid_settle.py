"""A worker SIGKILLed in the middle of settling a dataset (every file settled, the dataset's
metadata being derived) leaves the dataset ``ingesting`` with no task of it left: the
reconciler's next pass settles it, with the metadata a clean run derives."""

from __future__ import annotations

from typing import Any

import pytest

from repository.models import Dataset, DatasetStatus
from tests.faults import harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_a_worker_killed_mid_settle_leaves_nothing_stuck(
    world: Any, fault_s3: Any, celery_worker_process: Any
) -> None:
    worker = celery_worker_process
    dataset, session = harness.start_dataset(world)
    content = harness.files(12)
    # The dataset's row lock, held by another connection: the worker that settles the dataset
    # waits for it inside its settle transaction, after its files' outcomes were written.
    # (The stores change the dataset's status only from draft: it is ``ingesting`` already.)
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.INGESTING)
    lock = harness.RowLock(Dataset, dataset.pk)
    try:
        expected = harness.store(world, session, content)
        harness.wait_for(
            lambda: harness.waiting_on_a_lock(worker.application_name),
            60,
            "the worker to settle the dataset (and wait for its lock)",
        )
        worker.kill()  # mid-settle: every file is settled, the dataset is not
    finally:
        lock.release()
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.INGESTING
    worker.start_again()

    harness.settle_after_fault(dataset, worker, quiet=3)

    harness.assert_nothing_lost({dataset.pk: expected})
    dataset.refresh_from_db()
    assert dataset.metadata["acquisition"]["tilt_angle"]["increment"]["value"] == 6.0
    assert dataset.metadata_validation  # validated against its schema, as a clean run does

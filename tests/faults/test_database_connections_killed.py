"""The worker's PostgreSQL connections terminated (``pg_terminate_backend``, only this test's
worker's, found by their ``application_name``) again and again in the middle of an ingest:
the worker reconnects, and after the reconciler's next pass every file is settled, once, with
the checksum of a clean run."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.faults import harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_killed_database_connections_mid_ingest_lose_nothing(
    world: Any, fault_s3: Any, celery_worker_process: Any
) -> None:
    worker = celery_worker_process
    dataset, session = harness.start_dataset(world)
    expected = harness.store(world, session, harness.files(40))
    terminated = 0
    for _ in range(4):  # while the worker works through the queue
        harness.wait_for(
            lambda: harness.terminate_connections(worker.application_name) > 0 or
            harness.settled(dataset), 30, "a worker connection to terminate",
        )  # fmt: skip
        terminated += 1
        time.sleep(0.3)
    assert terminated == 4

    harness.settle_after_fault(dataset, worker, quiet=20)

    harness.assert_nothing_lost({dataset.pk: expected})
    # The worker still works afterwards: a new file is ingested without a reconciler.
    more = harness.store(world, session, {"late/extra.mdoc": b"[ZValue = 0]\nTiltAngle = 0\n"})
    harness.wait_for(lambda: harness.settled(dataset), 60, "a file after the faults")
    harness.assert_nothing_lost({dataset.pk: expected | more})

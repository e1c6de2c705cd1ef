"""Redis (the broker: this test's own server, never the shared one) restarted without
persistence while ingest tasks are queued and running: the queued messages and the deliveries
in flight are lost with it, files stored while it is down must still be stored (the upload
does not fail), and after the reconciler's next pass every file is settled, once, with the
checksum of a clean run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.faults import harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_a_broker_restart_with_tasks_queued_and_running_loses_nothing(
    world: Any, fault_s3: Any, own_redis: Any, celery_worker_process: Any
) -> None:
    worker = celery_worker_process
    dataset, session = harness.start_dataset(world)
    items = list(harness.files(40).items())
    expected = harness.store(world, session, dict(items[:30]))  # queued, and the worker on them
    harness.wait_for(lambda: harness.ready_count(dataset) >= 2, 60, "the first files ingested")
    own_redis.stop()  # a crash: its queue and the unacknowledged deliveries are gone
    # An upload that completes while the broker is down is stored all the same (its ingest
    # waits for the reconciler).
    expected |= harness.store(world, session, dict(items[30:35]))
    own_redis.start()  # same port: the worker and this process reconnect
    expected |= harness.store(world, session, dict(items[35:]))

    harness.settle_after_fault(dataset, worker, quiet=20)

    harness.assert_nothing_lost({dataset.pk: expected})

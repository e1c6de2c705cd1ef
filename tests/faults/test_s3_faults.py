"""The S3 server (this test's own SeaweedFS) stopped and started again in the middle of an
ingest and in the middle of an upload; S3 answering 500, 503 and SlowDown, and stalling,
through the fault proxy: after the retries (and the reconciler's next pass) every file is
settled, once, with the checksum of a clean run, and no multipart upload is left open."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from bench.faultproxy import Fault
from tests.faults import harness

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


def test_an_s3_restart_mid_ingest_loses_nothing(
    world: Any, fault_s3: Any, celery_worker_process: Any
) -> None:
    worker = celery_worker_process
    dataset, session = harness.start_dataset(world)
    expected = harness.store(world, session, harness.files(40))
    harness.wait_for(lambda: harness.ready_count(dataset) >= 2, 60, "the first files ingested")
    fault_s3.weed.stop()
    time.sleep(2)  # the worker's reads fail meanwhile: the files go back to stored, retried
    fault_s3.weed.start()

    harness.settle_after_fault(dataset, worker)

    harness.assert_nothing_lost({dataset.pk: expected})


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=500, code="InternalError"),
        Fault(status=503, code="ServiceUnavailable"),
        Fault(status=503, code="SlowDown"),
        Fault(stall=2.0),
    ],
    ids=["500", "503", "SlowDown", "stall"],
)
def test_s3_errors_and_stalls_mid_ingest_lose_nothing(
    world: Any, fault_s3: Any, celery_worker_process: Any, fault: Fault
) -> None:
    worker = celery_worker_process
    dataset, session = harness.start_dataset(world)
    expected = harness.store(world, session, harness.files(30))
    chance = random.Random(12)  # noqa: S311 - which requests fail, reproducibly
    lock = threading.Lock()

    def worker_reads(method: str, path: str) -> Fault | None:  # a third of reads and writes
        with lock:
            return fault if method in {"GET", "HEAD", "PUT"} and chance.random() < 0.33 else None

    fault_s3.proxy.rules.append(worker_reads)
    # Generous bounds (the waits end as soon as they hold): with stalls of 2 s on a third of
    # the requests, a worker on a loaded 2-core CI machine took over 60 s to meet ten faults.
    harness.wait_for(lambda: len(fault_s3.proxy.applied) >= 10, 180, "faults to be applied")
    harness.wait_for(lambda: harness.ready_count(dataset) >= 5, 180, "files ingested meanwhile")
    fault_s3.proxy.rules.clear()

    harness.settle_after_fault(dataset, worker)

    harness.assert_nothing_lost({dataset.pk: expected})


# --- mid-upload: `openem upload` against the portal while S3 restarts ------------------------


def test_an_s3_restart_mid_upload_loses_nothing(
    world: Any, fault_s3: Any, celery_worker_process: Any, cli: Any, token_for: Any,
    session_folder: Any, settings: Any,
) -> None:  # fmt: skip
    from pathlib import Path

    from tests.support.cli import sha256_of

    settings.OPENEM_UPLOAD_PART_SIZE = 5 * 1024 * 1024  # several parts: time to restart S3
    dataset, _session = harness.start_dataset(world)
    restarted = threading.Event()

    def restart_at_the_second_part(method: str, path: str) -> Fault | None:
        if method == "PUT" and "partNumber=2" in path and not restarted.is_set():
            restarted.set()

            def restart() -> None:
                fault_s3.weed.stop()
                time.sleep(1.0)
                fault_s3.weed.start()

            threading.Thread(target=restart, daemon=True).start()
            return Fault(stall=0.5)  # forwarded once S3 is going down: refused on the way
        return None

    fault_s3.proxy.rules.append(restart_at_the_second_part)
    result = cli(
        "--retries", "8", "upload", str(session_folder), "--dataset", dataset.pid, "--wait",
        "--json", token=token_for("staff"),
    )  # fmt: skip

    assert restarted.is_set()
    assert result.code == 0, result.err + result.out
    expected = {
        p.relative_to(session_folder).as_posix(): sha256_of(p)
        for p in sorted(Path(session_folder).rglob("*"))
        if p.is_file()
    }
    harness.settle_after_fault(dataset, celery_worker_process, quiet=10)
    counts = harness.check({dataset.pk: expected})
    assert counts.clean and counts.ready == len(expected), counts.summary() + str(counts.problems)

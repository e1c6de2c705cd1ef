"""Faults, short form (CI): a real worker process, PostgreSQL, Redis and SeaweedFS, each in its
own process. A worker SIGKILLed in the middle of hashing a large file loses nothing: after the
reconciler's next pass a new worker finishes the file, with the checksum of a clean run, one
row."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import time
from typing import Any

import pytest

from ingest import tasks
from ingest.services import reconcile_stuck_files
from ingest.uploads import datafile_store_stream
from repository.models import DataFile, FileState
from tests.support.pipeline import new_dataset, new_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]

SIZE = 384 * 1024 * 1024  # hashing it from S3 takes about a second here: time to kill the worker


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_hash_loses_nothing(
    world: Any, s3_storage: Any, celery_worker_process: Any
) -> None:
    block = hashlib.sha256(b"openem").digest() * (1024 * 1024 // 32)  # 1 MiB, not all zeros
    data = block * (SIZE // len(block))
    expected = hashlib.sha256(data).hexdigest()
    session = new_session(world, new_dataset(world))
    datafile = datafile_store_stream(  # stored as an upload would; its ingest is enqueued
        actor=world["staff"], session=session, path="Movies/big.bin", stream=io.BytesIO(data),
        size=len(data),
    )  # fmt: skip
    del data

    _wait_for(
        lambda: DataFile.objects.get(pk=datafile.pk).state == FileState.PROCESSING,
        60,
        "the worker to start hashing",
    )
    celery_worker_process.kill()  # mid-hash: the task is neither finished nor acknowledged
    assert DataFile.objects.get(pk=datafile.pk).state == FileState.PROCESSING

    celery_worker_process.start_again()
    # The reconciler's next pass (here at once instead of 30 minutes later) hands it back.
    assert reconcile_stuck_files(older_than=dt.timedelta(0)) == [datafile.pk]
    tasks.process_file.delay(datafile.pk)
    _wait_for(
        lambda: DataFile.objects.get(pk=datafile.pk).state in {FileState.READY, FileState.FAILED},
        120,
        "the file to settle",
    )
    settled = DataFile.objects.get(pk=datafile.pk)
    assert settled.state == FileState.READY, settled.error
    assert settled.checksum_sha256 == expected  # what a clean run computes
    assert DataFile.objects.filter(dataset=datafile.dataset, path=datafile.path).count() == 1

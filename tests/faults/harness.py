"""What the fault tests share: files to ingest, waiting, the reconciler's pass, and the checks
(``bench.faultcheck``)."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from typing import Any

from django.core.management import call_command
from django.db import connection

from bench.faultcheck import Counts, check

__all__ = ["check"]
from demo import seed as demo
from ingest.uploads import datafile_store_stream
from repository.models import DataFile, Dataset, DatasetStatus, FileState
from tests.support.pipeline import micrograph, new_dataset, new_session

BROKEN = "Notes/broken.mrc"  # not an MRC file: it must end failed, with the reason


def files(count: int) -> dict[str, bytes]:
    """``count`` small files of the kinds a tomography session holds (each distinct), with an
    mdoc for the metadata and one broken file."""
    out: dict[str, bytes] = {
        "TS_01/TS_01.mrc.mdoc": demo.mdoc_text("TS_01.mrc"),
        BROKEN: b"not an MRC file at all" * 20,
    }
    kinds = (
        lambda i: (f"TS_01/frames/f{i:04d}.mrc", micrograph((32 + i % 7, 32))),
        lambda i: (f"Frames/f{i:04d}.eer", demo.eer_like_bytes(frames=2, shape=(32, 32 + i % 5))),
        lambda i: (f"Frames/f{i:04d}.tiff", demo.tiff_movie_bytes(frames=2, shape=(32, 32 + i % 3))),
    )  # fmt: skip
    index = 0
    while len(out) < count:
        path, data = kinds[index % len(kinds)](index)
        out[path] = data
        index += 1
    return out


def start_dataset(world: Any) -> Any:
    call_command("load_builtin_schemas", verbosity=0)  # settling validates against them
    dataset = new_dataset(world, technique="cellular_tomo", title="Fault test")
    return dataset, new_session(world, dataset)


def store(world: Any, session: Any, content: dict[str, bytes]) -> dict[str, str]:
    """Store each file as an upload would (its ingest is enqueued when it commits); returns
    {path: SHA-256}, what a clean run computes."""
    for path, data in content.items():
        datafile_store_stream(
            actor=world["staff"], session=session, path=path, stream=io.BytesIO(data),
            size=len(data),
        )  # fmt: skip
    return {path: hashlib.sha256(data).hexdigest() for path, data in content.items()}


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def ready_count(dataset: Any) -> int:
    return DataFile.objects.filter(dataset=dataset, state=FileState.READY).count()


def settled(dataset: Any) -> bool:
    unsettled = DataFile.objects.filter(
        dataset=dataset, state__in=(FileState.REGISTERED, FileState.STORED, FileState.PROCESSING)
    )
    return (
        not unsettled.exists()
        and Dataset.objects.filter(pk=dataset.pk, status=DatasetStatus.READY).exists()
    )


def reconciler_pass() -> None:
    """The beat's periodic passes, at once instead of 10 minutes later, with "stale" meaning
    now (the test calls it when the workers are idle): hand back stuck files and settle the
    datasets nobody settled (``ingest.reconcile``), queue again dead packaging jobs
    (``deposition.reconcile_package_jobs``), abort multipart uploads nobody will complete."""
    from deposition.tasks import reconcile_package_jobs
    from ingest import tasks
    from ingest.uploads import abort_stale_multipart_uploads

    tasks.reconcile(older_than_seconds=0)
    reconcile_package_jobs(older_than_seconds=0)
    import datetime as dt

    abort_stale_multipart_uploads(orphaned_after=dt.timedelta(0))


def _unsettled_count(dataset: Any) -> int:
    return DataFile.objects.filter(
        dataset=dataset, state__in=(FileState.REGISTERED, FileState.STORED, FileState.PROCESSING)
    ).count()


def _wait_while_progressing(dataset: Any, *, idle: float = 60.0, limit: float = 300.0) -> None:
    """Wait until settled, for as long as files keep settling: a worker on a loaded CI machine
    may take minutes for what takes seconds alone, while a stuck one settles nothing for
    ``idle`` seconds (and no run waits past ``limit``)."""
    end = time.monotonic() + limit
    left, quiet_until = _unsettled_count(dataset), time.monotonic() + idle
    while not settled(dataset) and time.monotonic() < min(end, quiet_until):
        time.sleep(0.5)
        now_left = _unsettled_count(dataset)
        if now_left < left:
            left, quiet_until = now_left, time.monotonic() + idle


def settle_after_fault(dataset: Any, worker: Any, *, quiet: float = 45.0) -> None:
    """Wait for the ingest to settle on its own (retries); if it does not, the reconciler's
    next pass, then wait again. Fails with the worker's log if it still does not settle."""
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline and not settled(dataset):
        time.sleep(0.2)
    if not settled(dataset):
        reconciler_pass()
        _wait_while_progressing(dataset)
    if not settled(dataset):
        states = dict(DataFile.objects.filter(dataset=dataset).values_list("path", "state"))
        raise AssertionError(
            f"not settled after the reconciler's pass: {states}\n--- worker log ---\n"
            f"{worker.output()[-6000:]}"
        )


def assert_nothing_lost(expected: dict[int, dict[str, str]]) -> Counts:
    counts = check(expected, failures_allowed={BROKEN})
    assert counts.clean, counts.summary() + "\n" + "\n".join(counts.problems)
    assert counts.failed == sum(BROKEN in files for files in expected.values())
    return counts


def terminate_connections(application_name: str) -> int:
    """``pg_terminate_backend`` on the worker's connections only (by application name)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database() "
            "AND pid <> pg_backend_pid()",
            [application_name],
        )
        return int(cursor.fetchone()[0])


def waiting_on_a_lock(application_name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
            "AND datname = current_database() AND wait_event_type = 'Lock'",
            [application_name],
        )
        return int(cursor.fetchone()[0]) > 0


class RowLock:
    """A row lock held by a connection of its own (not the test's, which must commit): a
    worker that needs the row waits for it, mid-transaction, until :meth:`release`."""

    def __init__(self, model: Any, pk: int):
        import psycopg2

        settings = connection.settings_dict
        self.connection = psycopg2.connect(
            dbname=settings["NAME"], user=settings["USER"], password=settings["PASSWORD"],
            host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432,
            application_name="openem-fault-test-lock",
        )  # fmt: skip
        table = connection.ops.quote_name(model._meta.db_table)
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR NO KEY UPDATE", [pk])  # noqa: S608

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()

"""Fixity re-checks (oldest first, bit rot flagged, audited and mailed to the admins) and the
reconciler that hands work left behind by a dead worker back to the queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import storage
from ingest import services, tasks
from ingest.services import (
    datafile_claim,
    datafile_process,
    fixity_check_batch,
    reconcile_stuck_files,
)
from openem.celery import app as celery_app
from repository.models import AuditAction, AuditEvent, DataFile, FileState
from tests.support.pipeline import micrograph, new_dataset, new_session, sha256, store

ADMIN_EMAIL = "admins@example.org"


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("local_storage" if request.param == "local" else "s3_storage")
    return str(request.param)


@pytest.fixture
def ready_files(world: Any, backend: str) -> list[DataFile]:
    """Four ready files whose last checks lie 1, 2, 3 and 4 days back (the last never checked)."""
    session = new_session(world, new_dataset(world))
    files = []
    for index in range(4):
        datafile = store(world, session, f"Micrographs/m{index}.mrc", micrograph((32 + index, 32)))
        datafile_process(datafile.pk)
        files.append(DataFile.objects.get(pk=datafile.pk))
    assert {f.state for f in files} == {FileState.READY}
    now = timezone.now()
    for index, datafile in enumerate(files[:3]):
        DataFile.objects.filter(pk=datafile.pk).update(
            checksum_verified_at=now - dt.timedelta(days=index + 1)
        )
    DataFile.objects.filter(pk=files[3].pk).update(checksum_verified_at=None)
    return [DataFile.objects.get(pk=f.pk) for f in files]


@pytest.fixture
def admins(settings: Any) -> None:
    settings.ADMINS = [("OpenEM admins", ADMIN_EMAIL)]


def test_oldest_checks_come_first_and_the_time_is_recorded(ready_files, admins, mailoutbox):
    started = timezone.now()

    counts = fixity_check_batch(limit=2)

    assert counts == {"checked": 2, "mismatched": 0, "missing": 0, "unreadable": 0}
    after = {f.pk: DataFile.objects.get(pk=f.pk) for f in ready_files}
    # Never checked first, then the one checked 3 days ago; the two more recent are left.
    for datafile in (ready_files[3], ready_files[2]):
        assert after[datafile.pk].checksum_verified_at >= started
        assert after[datafile.pk].state == FileState.READY
    for datafile in (ready_files[0], ready_files[1]):
        assert after[datafile.pk].checksum_verified_at == datafile.checksum_verified_at
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action=AuditAction.FIXITY_FAILED).exists()

    fixity_check_batch(limit=1)
    assert DataFile.objects.get(pk=ready_files[1].pk).checksum_verified_at >= started


def test_the_share_of_files_per_run_comes_from_the_fraction(ready_files, settings):
    settings.OPENEM_FIXITY_FRACTION = 0.5
    assert fixity_check_batch()["checked"] == 2
    assert fixity_check_batch(fraction=0.25)["checked"] == 1
    assert fixity_check_batch(fraction=0.0)["checked"] == 0


def test_bit_rot_is_flagged_audited_and_mailed_to_the_admins(ready_files, admins, mailoutbox):
    victim = ready_files[3]  # the oldest check: first in line
    store_ = storage.get_store()
    original = store_.read(victim.storage_key, 0, victim.size)
    rotten = bytearray(original)
    rotten[2000] ^= 0x01  # one flipped bit in the pixels, same size
    store_.put(victim.storage_key, bytes(rotten))

    counts = fixity_check_batch(limit=2)

    assert counts == {"checked": 2, "mismatched": 1, "missing": 0, "unreadable": 0}
    victim.refresh_from_db()
    assert victim.state == FileState.FAILED
    assert victim.error == (
        f"checksum mismatch: stored SHA-256 is now {sha256(bytes(rotten))}, "
        f"expected {sha256(original)}"
    )
    assert victim.checksum_sha256 == sha256(original)  # the recorded checksum is kept
    event = AuditEvent.objects.get(action=AuditAction.FIXITY_FAILED)
    assert (event.target_type, event.target_id) == ("repository.datafile", str(victim.pk))
    assert event.dataset_id == victim.dataset_id
    assert event.details == {"path": victim.path, "problem": victim.error}
    assert event.actor is None
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [ADMIN_EMAIL]
    assert victim.dataset.pid in mail.subject and victim.path in mail.subject
    assert "checksum mismatch" in mail.body
    assert DataFile.objects.get(pk=ready_files[2].pk).state == FileState.READY
    # A failed file is no longer re-checked (and so not reported again).
    fixity_check_batch(limit=10)
    assert len(mailoutbox) == 1


def test_a_vanished_object_is_reported_as_missing(ready_files, admins, mailoutbox):
    victim = ready_files[3]
    storage.get_store().delete(victim.storage_key)

    counts = fixity_check_batch(limit=1)

    assert counts == {"checked": 1, "mismatched": 1, "missing": 1, "unreadable": 0}
    victim.refresh_from_db()
    assert victim.state == FileState.FAILED
    assert victim.error == "checksum mismatch: the file is missing from storage"
    assert AuditEvent.objects.filter(action=AuditAction.FIXITY_FAILED).count() == 1
    assert len(mailoutbox) == 1


class _FlakyStore:
    """The configured store, except that one object cannot be read: the storage module has
    already spent its retries on it (a bucket throttling, a network partition)."""

    def __init__(self, inner: Any, unreadable_key: str):
        self.inner, self.unreadable_key = inner, unreadable_key

    def iter_chunks(self, key: str, *args: Any, **kwargs: Any) -> Iterator[bytes]:
        if key == self.unreadable_key:
            raise storage.TransientStorageError(f"S3 throttled the read of {key} (SlowDown)")
        return self.inner.iter_chunks(key, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_unreadable_file_does_not_stop_the_batch_nor_count_as_damage(
    ready_files, admins, mailoutbox, monkeypatch
):
    first_in_line = ready_files[3]  # never checked
    flaky = _FlakyStore(storage.get_store(), first_in_line.storage_key)
    real_get_store = storage.get_store

    def get_flaky_store() -> Any:
        return flaky

    get_flaky_store.cache_clear = real_get_store.cache_clear  # type: ignore[attr-defined]
    monkeypatch.setattr(storage, "get_store", get_flaky_store)
    started = timezone.now()

    counts = fixity_check_batch(limit=2)

    assert counts == {"checked": 2, "mismatched": 0, "missing": 0, "unreadable": 1}
    unread = DataFile.objects.get(pk=first_in_line.pk)
    assert unread.state == FileState.READY and unread.error == ""
    assert unread.checksum_verified_at is None  # still first in line for the next run
    # The next file of the batch was checked all the same.
    assert DataFile.objects.get(pk=ready_files[2].pk).checksum_verified_at >= started
    assert mailoutbox == []
    assert not AuditEvent.objects.filter(action=AuditAction.FIXITY_FAILED).exists()


def test_the_periodic_task_runs_the_batch(ready_files, settings):
    settings.OPENEM_FIXITY_FRACTION = 1.0
    assert tasks.fixity_check() == {"checked": 4, "mismatched": 0, "missing": 0, "unreadable": 0}


# ---------------------------------------------------------------------------------------------
# Reconciler


@pytest.fixture
def eager() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def _age(datafile: DataFile, state: str, minutes: int) -> None:
    DataFile.objects.filter(pk=datafile.pk).update(
        state=state, modified=timezone.now() - dt.timedelta(minutes=minutes)
    )


def test_files_left_behind_by_a_dead_worker_go_back_to_stored(world, local_storage):
    session = new_session(world, new_dataset(world))
    files = [store(world, session, f"m{i}.mrc", micrograph((32, 32))) for i in range(4)]
    stuck_processing, stuck_stored, busy, registered = files
    _age(stuck_processing, FileState.PROCESSING, 120)
    _age(stuck_stored, FileState.STORED, 45)
    _age(busy, FileState.PROCESSING, 5)  # a live worker still has it
    _age(registered, FileState.REGISTERED, 600)  # waiting for bytes, nothing to do

    ids = reconcile_stuck_files(older_than=dt.timedelta(minutes=30))

    assert sorted(ids) == sorted([stuck_processing.pk, stuck_stored.pk])
    states = dict(DataFile.objects.values_list("pk", "state"))
    assert states[stuck_processing.pk] == FileState.STORED
    assert states[stuck_stored.pk] == FileState.STORED
    assert states[busy.pk] == FileState.PROCESSING
    assert states[registered.pk] == FileState.REGISTERED
    # Put back with a fresh time: the next run does not enqueue them again at once.
    assert reconcile_stuck_files(older_than=dt.timedelta(minutes=30)) == []


def test_a_file_claimed_while_the_reconciler_runs_is_left_to_its_worker(world, local_storage):
    """The reconciler's SELECT saw a stuck ``stored`` file; a worker claims it before the
    UPDATE: the reconciler must not pull it back to ``stored`` under that worker."""
    session = new_session(world, new_dataset(world))
    datafile = store(world, session, "m.mrc", micrograph((32, 32)))
    _age(datafile, FileState.STORED, 45)
    claimed = {"done": False}

    def claim_after_the_select(
        execute: Any, sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        result = execute(sql, params, many, context)
        if not claimed["done"] and sql.lstrip().upper().startswith("SELECT"):
            claimed["done"] = True
            assert datafile_claim(datafile.pk)  # the worker, between SELECT and UPDATE
        return result

    with connection.execute_wrapper(claim_after_the_select):
        ids = reconcile_stuck_files(older_than=dt.timedelta(minutes=30))

    assert claimed["done"] and ids == [datafile.pk]
    assert DataFile.objects.get(pk=datafile.pk).state == FileState.PROCESSING


def test_the_reconcile_task_re_enqueues_and_the_files_get_ingested(world, local_storage, eager):
    session = new_session(world, new_dataset(world))
    datafile = store(world, session, "m.mrc", micrograph((32, 32)))
    _age(datafile, FileState.PROCESSING, 120)

    assert tasks.reconcile() == 1

    datafile.refresh_from_db()
    assert datafile.state == FileState.READY
    assert tasks.reconcile() == 0


# ---------------------------------------------------------------------------------------------
# Heartbeat: a live worker hashing a file for longer than the reconciler's cutoff keeps it


def test_a_heartbeat_keeps_a_long_hash_from_being_handed_back(world, local_storage, monkeypatch):
    session = new_session(world, new_dataset(world))
    hashing, finished = (store(world, session, f"m{i}.mrc", micrograph((32, 32))) for i in (1, 2))
    assert datafile_claim(hashing.pk)
    _age(hashing, FileState.PROCESSING, 45)  # the worker has hashed it for 45 minutes
    _age(finished, FileState.READY, 45)
    monkeypatch.setattr(services, "HEARTBEAT_SECONDS", 0.0)

    services._Heartbeat(hashing.pk)(8 * 2**20)
    beat_on_ready = services._Heartbeat(finished.pk)
    beat_on_ready(8 * 2**20)

    assert reconcile_stuck_files(older_than=dt.timedelta(minutes=30)) == []
    assert DataFile.objects.get(pk=hashing.pk).state == FileState.PROCESSING
    # Only a file still being processed is touched: a settled file keeps its time.
    assert beat_on_ready.beats == 0
    finished.refresh_from_db()
    assert timezone.now() - finished.modified > dt.timedelta(minutes=44)


def test_heartbeats_are_rate_limited(world, local_storage):
    session = new_session(world, new_dataset(world))
    datafile = store(world, session, "m.mrc", micrograph((32, 32)))
    assert datafile_claim(datafile.pk)
    beat = services._Heartbeat(datafile.pk)
    for hashed in range(1, 100):
        beat(hashed * 2**20)
    assert beat.beats == 0  # the first beat is due HEARTBEAT_SECONDS after the claim


def test_hashing_a_large_file_beats_while_it_reads(world, local_storage, monkeypatch):
    """A 20 MiB file streams in batches; with beats due at once, each batch touches the row."""
    session = new_session(world, new_dataset(world))
    content = micrograph((2400, 2200))
    datafile = store(world, session, "big.mrc", content)
    assert datafile.size > 3 * 8 * 2**20 / 2
    monkeypatch.setattr(services, "HEARTBEAT_SECONDS", 0.0)
    with CaptureQueriesContext(connection) as queries:
        assert datafile_process(datafile.pk) == "ready"
    beats = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "repository_datafile" SET "modified"')
    ]
    assert len(beats) >= datafile.size // (8 * 2**20)
    assert DataFile.objects.get(pk=datafile.pk).checksum_sha256 == sha256(content)

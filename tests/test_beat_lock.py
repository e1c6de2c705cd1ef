"""Two beat processes (started by mistake) trigger fixity and the embargo release twice: the
second run, while the first holds the lock, does nothing; a dead holder (its connection gone)
never leaves the task locked."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import psycopg2
import pytest
from django.db import connection, transaction
from django.utils import timezone

from ingest import tasks as ingest_tasks
from openem.locks import _lock_id, single_run
from repository import tasks as repository_tasks
from repository.models import AuditAction, AuditEvent, Visibility
from tests.factories import DatasetFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def other_process() -> Any:
    """A second connection to the test database, as another worker's run would hold."""
    if connection.vendor != "postgresql":
        from tests.services import require_service

        require_service("the beat lock is a PostgreSQL advisory lock: set DATABASE_URL")
    config = connection.settings_dict
    other = psycopg2.connect(
        dbname=config["NAME"],
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or "127.0.0.1",
        port=config.get("PORT") or 5432,
    )
    other.autocommit = True
    yield other
    other.close()


def _hold(other: Any, name: str) -> None:
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_id(name)])
        assert cursor.fetchone()[0] is True


def _die(other: Any) -> None:
    """The holder's worker dies: its connection closes. PostgreSQL drops the lock when that
    backend has exited, which happens a moment after the client hangs up: wait for it."""
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other.close()
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} still alive 30 s after its client closed")


def test_a_second_embargo_release_while_one_runs_does_nothing(world: Any, other_process: Any):
    today = timezone.localdate()
    due = DatasetFactory(visibility=Visibility.EMBARGOED, embargo_until=today - dt.timedelta(1))
    _hold(other_process, "release_embargoes")  # the first beat's run, still going

    assert repository_tasks.release_embargoes() == -1  # the second beat's: skipped
    due.refresh_from_db()
    assert due.visibility == Visibility.EMBARGOED
    assert not AuditEvent.objects.filter(action=AuditAction.EMBARGO_RELEASED).exists()

    _die(other_process)  # the first run's worker died: PostgreSQL drops its lock
    assert repository_tasks.release_embargoes() == 1
    due.refresh_from_db()
    assert due.visibility == Visibility.PUBLIC
    assert AuditEvent.objects.filter(action=AuditAction.EMBARGO_RELEASED, dataset=due).count() == 1


def test_a_second_fixity_run_while_one_runs_does_nothing(
    world: Any, local_storage: Any, other_process: Any
):
    from ingest.services import datafile_process
    from repository.models import DataFile
    from tests.support.pipeline import micrograph, new_dataset, new_session, store

    with transaction.atomic():  # ingest is enqueued when the block commits
        datafile = store(world, new_session(world, new_dataset(world)), "m.mrc", micrograph())
    datafile_process(datafile.pk)  # (a no-op if it already ran)
    assert DataFile.objects.get(pk=datafile.pk).state == "ready"
    DataFile.objects.filter(pk=datafile.pk).update(checksum_verified_at=None)
    _hold(other_process, "fixity_check")

    assert ingest_tasks.fixity_check() == {"skipped": 1}
    assert DataFile.objects.get(pk=datafile.pk).checksum_verified_at is None

    with other_process.cursor() as cursor:  # the first run ends
        cursor.execute("SELECT pg_advisory_unlock(%s)", [_lock_id("fixity_check")])
    assert ingest_tasks.fixity_check()["checked"] == 1
    assert DataFile.objects.get(pk=datafile.pk).checksum_verified_at is not None


def test_the_lock_is_released_after_a_run_and_after_an_error():
    with single_run("probe") as mine:
        assert mine
        with single_run("probe") as again:  # the same session holds it: re-entrant
            assert again
    with pytest.raises(RuntimeError), single_run("probe") as mine:
        raise RuntimeError("the run failed")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 0

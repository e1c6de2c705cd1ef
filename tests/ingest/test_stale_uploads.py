"""Multipart uploads nobody will complete are aborted by a periodic task (S3 keeps their parts,
and bills them, forever otherwise): orphans no file names, and uploads a file still names but
nobody continued for a week; a recent or live one is kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import storage
from ingest import tasks
from ingest.uploads import abort_stale_multipart_uploads, upload_multipart_start
from repository.models import DataFile
from tests.support.pipeline import new_dataset, new_session, register_file

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def _open_uploads() -> set[str]:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    return {upload_id for _key, upload_id, _when in store.multipart_list_uploads()}


def test_orphaned_and_abandoned_uploads_are_aborted_live_ones_kept(
    world: Any, s3_storage: Any
) -> None:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    session = new_session(world, new_dataset(world))
    live = register_file(world, session, "live.bin", b"x" * 100)
    live_id = upload_multipart_start(actor=world["staff"], datafile=live)["upload_id"]
    orphan_id = store.multipart_create(storage.object_key("orphans", "lost.bin"))
    assert _open_uploads() == {live_id, orphan_id}

    # Just created: a start may be saving its id right now, so the orphan is kept for a while.
    assert abort_stale_multipart_uploads() == {"orphaned": 0, "abandoned": 0, "kept": 2}
    assert abort_stale_multipart_uploads(orphaned_after=dt.timedelta(0)) == {
        "orphaned": 1,
        "abandoned": 0,
        "kept": 1,
    }
    assert _open_uploads() == {live_id}
    live.refresh_from_db()
    assert live.upload_id == live_id  # a file's upload of today is left alone

    counts = abort_stale_multipart_uploads(abandoned_after=dt.timedelta(0))
    assert counts == {"orphaned": 0, "abandoned": 1, "kept": 0}
    assert _open_uploads() == set()
    live.refresh_from_db()
    assert (live.upload_id, live.part_crc32s) == ("", {})  # its next upload starts over
    restarted = upload_multipart_start(actor=world["staff"], datafile=live)["upload_id"]
    assert restarted != live_id and _open_uploads() == {restarted}
    assert DataFile.objects.filter(pk=live.pk, upload_id=restarted).exists()


def test_the_task_runs_it_and_local_storage_has_nothing_to_do(
    world: Any, s3_storage: Any, settings: Any
) -> None:
    assert tasks.abort_stale_uploads() == {"orphaned": 0, "abandoned": 0, "kept": 0}
    settings.OPENEM_STORAGE = {"backend": "local", "root": "/nonexistent-openem"}
    storage.reset_store_cache()
    assert abort_stale_multipart_uploads() == {"orphaned": 0, "abandoned": 0, "kept": 0}

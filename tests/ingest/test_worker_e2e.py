"""The whole ingest through a REAL Celery worker process (Redis broker, PostgreSQL), on local
files and on the S3 server: files stored by the upload services are enqueued after commit, the
worker checksums, reads headers, makes thumbnails, and the dataset settles."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from django.core.management import call_command

import storage
from demo import seed as demo
from ingest.selectors import dataset_ingest_progress
from ingest.uploads import datafile_store_stream, upload_session_complete
from repository.models import DataFile, Dataset, DatasetStatus, FileState
from tests.support.pipeline import micrograph, new_dataset, new_session, png_size, sha256

pytestmark = pytest.mark.services

TIMEOUT = 90.0


def session_files() -> dict[str, bytes]:
    return {
        "TS_01/TS_01.mrc.mdoc": demo.mdoc_text("TS_01.mrc"),
        "TS_01/TS_01.mrc": micrograph((128, 128)),
        "Frames/TS_01_001.eer": demo.eer_like_bytes(frames=4, shape=(128, 128)),
        "Frames/TS_01_002.tiff": demo.tiff_movie_bytes(frames=5, shape=(128, 128)),
        "Notes/broken.mrc": b"not an MRC file at all" * 20,
    }


def wait_until_settled(dataset: Dataset, worker: Any) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        settled = dataset_ingest_progress(dataset).settled
        if settled and Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.READY:
            return
        time.sleep(0.25)
    states = dict(DataFile.objects.filter(dataset=dataset).values_list("path", "state"))
    pytest.fail(
        f"ingest did not settle within {TIMEOUT:.0f}s: {states}\n--- worker log ---\n"
        f"{worker.output()[-5000:]}"
    )


@pytest.mark.parametrize("backend", ["local_storage", "s3_storage"])
def test_a_session_is_ingested_by_a_real_worker(transactional_db, world, request, backend):
    request.getfixturevalue(backend)  # storage first: the worker copies its settings
    worker = request.getfixturevalue("celery_worker_process")
    # A transactional test starts from a flushed database: load the built-in metadata schemas
    # that settling validates against (as the setup command does).
    call_command("load_builtin_schemas", verbosity=0)
    dataset = new_dataset(world, technique="cellular_tomo")
    session = new_session(world, dataset)
    files = session_files()

    stored = {
        path: datafile_store_stream(
            actor=world["staff"],
            session=session,
            path=path,
            stream=io.BytesIO(data),
            size=len(data),
        )
        for path, data in files.items()
    }
    upload_session_complete(actor=world["staff"], session=session)

    wait_until_settled(dataset, worker)

    by_path = {f.path: f for f in DataFile.objects.filter(dataset=dataset)}
    for path, data in files.items():
        datafile = by_path[path]
        assert datafile.checksum_sha256 == sha256(data), path
        if path == "Notes/broken.mrc":
            assert datafile.state == FileState.FAILED
            assert "not one" in datafile.error
        else:
            assert (datafile.state, datafile.error) == (FileState.READY, ""), path
    assert by_path["TS_01/TS_01.mrc"].header["nx"] == 128
    assert by_path["Frames/TS_01_001.eer"].header["metadata"]["numberOfFrames"]["value"] == 4
    assert by_path["Frames/TS_01_002.tiff"].header["pages"] == 5
    for path in ("TS_01/TS_01.mrc", "Frames/TS_01_001.eer", "Frames/TS_01_002.tiff"):
        assert max(png_size(by_path[path].thumbnail_key)) <= 512
    assert storage.get_store().exists(stored["TS_01/TS_01.mrc"].storage_key)

    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY
    assert dataset.metadata["acquisition"]["tilt_angle"]["increment"]["value"] == 6.0
    progress = dataset_ingest_progress(dataset)
    assert (progress.files_done, progress.files_failed) == (4, 1)
    # The worker logs a task's success after the task has written its outcome: the last line
    # may follow the settled dataset by a moment.
    deadline = time.monotonic() + 10
    while worker.output().count("succeeded") < len(files) and time.monotonic() < deadline:
        time.sleep(0.1)
    log = worker.output()
    assert "ingest.process_file" in log
    assert log.count("succeeded") >= len(files), log[-3000:]

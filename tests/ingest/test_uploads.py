"""Upload sessions: batch registration, direct-to-S3 multipart through real presigned URLs
(SeaweedFS over HTTP), resumable local chunks, completion into ingest, and who may upload."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import requests

import storage
from demo import seed as demo
from ingest.models import UploadSessionState
from ingest.uploads import (
    MAX_BATCH,
    datafile_store_stream,
    part_size_for,
    upload_local_chunk,
    upload_local_offset,
    upload_multipart_abort,
    upload_multipart_complete,
    upload_multipart_list_parts,
    upload_multipart_sign_parts,
    upload_multipart_start,
    upload_session_complete,
    upload_session_create,
    upload_session_register_files,
)
from openem.celery import app as celery_app
from openem.errors import Conflict, NotAllowed, ValidationFailed
from openem_client.files import part_crc32
from repository.models import DataFile, Dataset, DatasetStatus, FileState
from repository.services import dataset_publish
from tests.factories import CITABLE_METADATA
from tests.support.pipeline import new_dataset, new_session, object_sha256, register_file, sha256

MiB = 1024 * 1024


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in-process when enqueued, as in the embedded default."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def mrc_of_size(megabytes: float) -> bytes:
    """A valid float32 MRC volume of about ``megabytes`` MiB (noise)."""
    side = 512
    sections = max(1, int(megabytes * MiB / (side * side * 4)))
    rng = np.random.default_rng(11)
    return demo.mrc_bytes(rng.normal(size=(sections, side, side)).astype(np.float32), 1.0)


# ---------------------------------------------------------------------------------------------
# Batch registration


def test_a_thousand_and_more_files_register_in_one_call(world, django_assert_max_num_queries):
    session = new_session(world, new_dataset(world))
    entries = [
        {"path": f"Images-Disc1/GridSquare_{i // 100}/Data/FoilHole_{i}.eer", "size": 1000 + i}
        for i in range(1500)
    ]
    entries[7]["sha256"] = "A" * 64  # upper case is accepted and normalised

    # Bulk inserts: a few dozen statements at most (SQLite splits batches), never one per file.
    with django_assert_max_num_queries(40):
        rows = upload_session_register_files(actor=world["staff"], session=session, entries=entries)

    assert len(rows) == 1500
    stored = DataFile.objects.filter(upload_session=session)
    assert stored.count() == 1500
    assert set(stored.values_list("state", flat=True)) == {FileState.REGISTERED}
    one = stored.get(path="Images-Disc1/GridSquare_0/Data/FoilHole_7.eer")
    assert (one.directory, one.name, one.size) == (
        "Images-Disc1/GridSquare_0/Data",
        "FoilHole_7.eer",
        1007,
    )
    assert one.expected_sha256 == "a" * 64
    keys = set(stored.values_list("storage_key", flat=True))
    assert len(keys) == 1500
    assert all(
        "FoilHole" not in key and key.startswith(f"datasets/{session.dataset.pid}/files/")
        for key in keys
    )


def test_more_than_the_batch_limit_is_refused(world):
    session = new_session(world, new_dataset(world))
    entries = [{"path": f"f{i}", "size": 1} for i in range(MAX_BATCH + 1)]
    with pytest.raises(ValidationFailed, match=f"at most {MAX_BATCH} files per request"):
        upload_session_register_files(actor=world["staff"], session=session, entries=entries)
    assert not DataFile.objects.exists()


def test_a_batch_with_problems_is_refused_whole_with_each_problem_by_index(world):
    dataset = new_dataset(world)
    session = new_session(world, dataset)
    upload_session_register_files(
        actor=world["staff"], session=session, entries=[{"path": "Data/existing.mrc", "size": 5}]
    )
    entries: list[dict[str, Any]] = [
        {"path": "Data/fine_0.mrc", "size": 10},
        {"path": "../x", "size": 10},
        {"path": "/etc/passwd", "size": 10},
        {"path": "Data/bell\x07.mrc", "size": 10},
        {"path": "Data/twice.mrc", "size": 10},
        {"path": "Data/./twice.mrc", "size": 11},
        {"path": "Data/existing.mrc", "size": 10},
        {"path": "Data/negative.mrc", "size": -1},
        {"path": "Data/badsum.mrc", "size": 10, "sha256": "abc123"},
        {"path": "Data/fine_1.mrc", "size": 10},
        {"path": "C:/Users/x.mrc", "size": 10},
        {"path": "Data/notanumber.mrc", "size": "10"},
    ]

    with pytest.raises(ValidationFailed) as raised:
        upload_session_register_files(actor=world["staff"], session=session, entries=entries)

    problems = {p["index"]: p["message"] for p in raised.value.details}
    assert sorted(problems) == [1, 2, 3, 5, 6, 7, 8, 10, 11]
    assert "leaves the session folder" in problems[1]
    assert "absolute" in problems[2] and "absolute" in problems[10]
    assert "control characters" in problems[3]
    assert problems[5] == "duplicate of entry 4"
    assert problems[6] == "a file with this path is already in the dataset"
    assert "size must be a whole number of bytes >= 0" in problems[7]
    assert "size must be" in problems[11]
    assert "sha256 must be 64 hexadecimal characters" in problems[8]
    assert str(raised.value) == "9 of 12 files cannot be registered"
    # All or nothing: only the file registered before is there, nothing reached storage.
    assert list(DataFile.objects.filter(dataset=dataset).values_list("path", flat=True)) == [
        "Data/existing.mrc"
    ]


def test_an_empty_batch_is_refused(world):
    session = new_session(world, new_dataset(world))
    with pytest.raises(ValidationFailed, match="no files to register"):
        upload_session_register_files(actor=world["staff"], session=session, entries=[])


def test_a_completed_session_takes_no_more_files(world):
    session = new_session(world, new_dataset(world))
    upload_session_register_files(
        actor=world["staff"], session=session, entries=[{"path": "a.mrc", "size": 4}]
    )
    summary = upload_session_complete(actor=world["staff"], session=session)
    assert summary == {"missing_files": 1, "files": 1}
    session.refresh_from_db()
    assert session.state == UploadSessionState.COMPLETED and session.completed_at
    with pytest.raises(Conflict, match="start a new one"):
        upload_session_register_files(
            actor=world["staff"], session=session, entries=[{"path": "b.mrc", "size": 4}]
        )


def test_a_stream_that_is_not_the_announced_size_is_dropped(world, local_storage):
    session = new_session(world, new_dataset(world))
    with pytest.raises(ValidationFailed, match="3 bytes arrived, 10 were announced"):
        datafile_store_stream(
            actor=world["staff"], session=session, path="a.bin", stream=io.BytesIO(b"abc"), size=10
        )
    assert not DataFile.objects.exists()
    assert not any(p.is_file() for p in local_storage.rglob("*"))


# ---------------------------------------------------------------------------------------------
# Who may upload


@pytest.mark.parametrize("persona", ["stranger", "member", "other_staff"])
def test_people_who_are_not_facility_staff_cannot_upload(world, persona):
    dataset = new_dataset(world)
    with pytest.raises(NotAllowed, match="cannot upload"):
        upload_session_create(actor=world[persona], dataset=dataset)
    session = new_session(world, dataset)
    with pytest.raises(NotAllowed):
        upload_session_register_files(
            actor=world[persona], session=session, entries=[{"path": "a.mrc", "size": 1}]
        )
    assert not DataFile.objects.exists()


@pytest.mark.parametrize("persona", ["staff", "curator", "admin"])
def test_staff_curators_and_admins_can_upload(world, persona):
    session = upload_session_create(actor=world[persona], dataset=new_dataset(world))
    assert session.state == UploadSessionState.OPEN


def test_a_published_dataset_refuses_new_sessions(world, local_storage):
    dataset = new_dataset(world)
    dataset.metadata = CITABLE_METADATA
    dataset.save()
    dataset_publish(actor=world["curator"], dataset=dataset)
    with pytest.raises(Conflict, match="published"):
        upload_session_create(actor=world["staff"], dataset=dataset)


def test_local_chunks_of_a_stranger_are_refused(world, local_storage):
    session = new_session(world, new_dataset(world))
    [datafile] = upload_session_register_files(
        actor=world["staff"], session=session, entries=[{"path": "a.bin", "size": 4}]
    )
    with pytest.raises(NotAllowed):
        upload_local_chunk(
            actor=world["stranger"],
            datafile=datafile,
            offset=0,
            stream=io.BytesIO(b"abcd"),
            length=4,
        )
    assert upload_local_offset(actor=world["staff"], datafile=datafile) == 0


# ---------------------------------------------------------------------------------------------
# S3 multipart through real presigned URLs


def _put_part(signed: tuple[str, dict[str, str]], data: bytes) -> str:
    url, headers = signed
    response = requests.put(url, data=data, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def test_multipart_upload_resumes_and_completes_into_a_ready_file(
    world, s3_storage, settings, eager, django_capture_on_commit_callbacks
):
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * MiB
    data = mrc_of_size(11)
    assert len(data) > 2 * 5 * MiB
    dataset = new_dataset(world)
    datafile = register_file(
        world, new_session(world, dataset), "Maps/volume.mrc", data, sha256=sha256(data)
    )
    staff = world["staff"]

    started = upload_multipart_start(actor=staff, datafile=datafile)
    assert (started["part_size"], started["part_count"]) == (5 * MiB, 3)
    upload_id = started["upload_id"]
    parts = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    urls = upload_multipart_sign_parts(
        actor=staff, datafile=datafile, upload_id=upload_id, parts={1: part_crc32(parts[0])}
    )
    assert set(urls) == {1} and urls[1][0].startswith(s3_storage.endpoint_url)
    assert urls[1][1] == {"x-amz-checksum-crc32": part_crc32(parts[0])}
    _put_part(urls[1], parts[0])

    # The client is interrupted; later it asks where it was.
    datafile.refresh_from_db()
    resumed = upload_multipart_start(actor=staff, datafile=datafile)
    assert resumed["upload_id"] == upload_id  # the same upload, not a new one
    listed = upload_multipart_list_parts(actor=staff, datafile=datafile, upload_id=upload_id)
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MiB)]

    with pytest.raises(ValidationFailed, match="upload the missing parts first") as missing:
        upload_multipart_complete(actor=staff, datafile=datafile, upload_id=upload_id)
    assert missing.value.details == {"uploaded_bytes": 5 * MiB, "expected_bytes": len(data)}
    assert DataFile.objects.get(pk=datafile.pk).state == FileState.REGISTERED

    urls = upload_multipart_sign_parts(
        actor=staff,
        datafile=datafile,
        upload_id=upload_id,
        parts={2: part_crc32(parts[1]), 3: part_crc32(parts[2])},
    )
    etags = {1: listed[0]["ETag"], 2: _put_part(urls[2], parts[1]), 3: _put_part(urls[3], parts[2])}

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        completed = upload_multipart_complete(
            actor=staff,
            datafile=datafile,
            upload_id=upload_id,
            parts=[{"PartNumber": n, "ETag": etag} for n, etag in etags.items()],
        )
        assert completed.state == FileState.STORED  # before the ingest task ran
        assert completed.upload_id == ""
    assert len(callbacks) == 1  # ingest enqueued after commit

    completed.refresh_from_db()
    assert completed.state == FileState.READY, completed.error
    assert completed.checksum_sha256 == sha256(data)
    assert completed.header["nz"] == len(data) // (512 * 512 * 4)
    assert object_sha256(completed.storage_key) == sha256(data)
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.READY


def test_multipart_complete_uses_the_servers_part_list_when_the_client_sends_none(
    world, s3_storage, settings, eager, django_capture_on_commit_callbacks
):
    data = b"EM" * 1000
    datafile = register_file(world, new_session(world, new_dataset(world)), "notes.txt", data)
    upload_id = upload_multipart_start(actor=world["staff"], datafile=datafile)["upload_id"]
    url = upload_multipart_sign_parts(
        actor=world["staff"], datafile=datafile, upload_id=upload_id, parts={1: part_crc32(data)}
    )[1]
    _put_part(url, data)
    datafile.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        upload_multipart_complete(actor=world["staff"], datafile=datafile, upload_id=upload_id)
    datafile.refresh_from_db()
    assert (datafile.state, datafile.format) == (FileState.READY, "other")
    with pytest.raises(Conflict, match="already uploaded"):
        upload_multipart_start(actor=world["staff"], datafile=datafile)


def test_multipart_abort_drops_the_parts(world, s3_storage):
    data = b"x" * 1000
    datafile = register_file(world, new_session(world, new_dataset(world)), "a.bin", data)
    staff = world["staff"]
    upload_id = upload_multipart_start(actor=staff, datafile=datafile)["upload_id"]
    datafile.refresh_from_db()
    url = upload_multipart_sign_parts(
        actor=staff, datafile=datafile, upload_id=upload_id, parts={1: part_crc32(data)}
    )[1]
    _put_part(url, data)

    upload_multipart_abort(actor=staff, datafile=datafile, upload_id=upload_id)

    datafile.refresh_from_db()
    assert (datafile.upload_id, datafile.state) == ("", FileState.REGISTERED)
    with pytest.raises(storage.StorageError):
        storage.get_store().multipart_list_parts(datafile.storage_key, upload_id)
    with pytest.raises(ValidationFailed, match="unknown upload id"):
        upload_multipart_sign_parts(
            actor=staff, datafile=datafile, upload_id=upload_id, parts={1: part_crc32(data)}
        )
    assert not storage.get_store().exists(datafile.storage_key)
    # A new upload can start afresh.
    assert upload_multipart_start(actor=staff, datafile=datafile)["upload_id"] != upload_id


def test_part_numbers_are_checked_and_the_part_size_grows_for_huge_files(
    world, s3_storage, settings
):
    settings.OPENEM_UPLOAD_PART_SIZE = 64 * MiB
    datafile = register_file(world, new_session(world, new_dataset(world)), "a.bin", b"x" * 10)
    upload_id = upload_multipart_start(actor=world["staff"], datafile=datafile)["upload_id"]
    datafile.refresh_from_db()
    for numbers in ([0], [10_001], []):
        with pytest.raises(ValidationFailed, match="between 1 and 10000"):
            upload_multipart_sign_parts(
                actor=world["staff"],
                datafile=datafile,
                upload_id=upload_id,
                parts=dict.fromkeys(numbers, "AAAAAA=="),
            )
    with pytest.raises(ValidationFailed, match="has 1 part of .* there is no part 2"):
        upload_multipart_sign_parts(
            actor=world["staff"], datafile=datafile, upload_id=upload_id, parts={2: "AAAAAA=="}
        )
    five_tb = 5 * 1024**4
    assert part_size_for(five_tb) * 10_000 >= five_tb
    assert part_size_for(1024**3) == 64 * MiB


def test_multipart_endpoints_refuse_local_storage(world, local_storage):
    datafile = register_file(world, new_session(world, new_dataset(world)), "a.bin", b"x")
    with pytest.raises(Conflict, match="chunked upload"):
        upload_multipart_start(actor=world["staff"], datafile=datafile)


# ---------------------------------------------------------------------------------------------
# Local chunked upload


def test_local_chunks_resume_refuse_wrong_offsets_cut_short_chunks_and_complete(
    world, local_storage, eager, django_capture_on_commit_callbacks
):
    data = mrc_of_size(0.3)
    chunk = 100_000
    dataset = new_dataset(world)
    datafile = register_file(world, new_session(world, dataset), "Micrographs/m.mrc", data)
    staff = world["staff"]
    assert upload_local_offset(actor=staff, datafile=datafile) == 0

    assert (
        upload_local_chunk(
            actor=staff, datafile=datafile, offset=0, stream=io.BytesIO(data[:chunk]), length=chunk
        )
        == chunk
    )

    # Interrupted: the client asks where to go on.
    assert upload_local_offset(actor=staff, datafile=datafile) == chunk
    with pytest.raises(Conflict, match=f"expected a chunk at offset {chunk}, got 0") as wrong:
        upload_local_chunk(
            actor=staff, datafile=datafile, offset=0, stream=io.BytesIO(data[:chunk]), length=chunk
        )
    assert wrong.value.details == {"offset": chunk}

    # The connection drops in the middle of a chunk: the partial chunk is cut back.
    short = io.BytesIO(data[chunk : chunk + 1234])
    assert (
        upload_local_chunk(actor=staff, datafile=datafile, offset=chunk, stream=short, length=chunk)
        == chunk
    )
    assert upload_local_offset(actor=staff, datafile=datafile) == chunk

    with pytest.raises(ValidationFailed, match="goes past the registered size"):
        upload_local_chunk(
            actor=staff,
            datafile=datafile,
            offset=chunk,
            stream=io.BytesIO(data[chunk:] + b"extra"),
            length=len(data) - chunk + 5,
        )
    assert upload_local_offset(actor=staff, datafile=datafile) == chunk

    offset = chunk
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        while offset < len(data):
            piece = data[offset : offset + chunk]
            offset = upload_local_chunk(
                actor=staff,
                datafile=datafile,
                offset=offset,
                stream=io.BytesIO(piece),
                length=len(piece),
            )
        assert DataFile.objects.get(pk=datafile.pk).state == FileState.STORED
    assert offset == len(data)
    assert len(callbacks) == 1

    datafile.refresh_from_db()
    assert datafile.state == FileState.READY, datafile.error
    assert datafile.checksum_sha256 == hashlib.sha256(data).hexdigest()
    assert object_sha256(datafile.storage_key) == sha256(data)
    assert Dataset.objects.get(pk=dataset.pk).status == DatasetStatus.READY
    with pytest.raises(Conflict, match="already uploaded"):
        upload_local_chunk(
            actor=staff, datafile=datafile, offset=offset, stream=io.BytesIO(b""), length=0
        )


def test_a_file_is_not_an_object_until_its_last_chunk(world, local_storage):
    data = b"0123456789" * 10
    datafile = register_file(world, new_session(world, new_dataset(world)), "a.bin", data)
    upload_local_chunk(
        actor=world["staff"], datafile=datafile, offset=0, stream=io.BytesIO(data[:50]), length=50
    )
    assert not storage.get_store().exists(datafile.storage_key)
    assert DataFile.objects.get(pk=datafile.pk).state == FileState.REGISTERED


def test_chunk_endpoints_refuse_s3_storage(world, s3_storage):
    datafile = register_file(world, new_session(world, new_dataset(world)), "a.bin", b"x")
    with pytest.raises(Conflict, match="multipart"):
        upload_local_offset(actor=world["staff"], datafile=datafile)

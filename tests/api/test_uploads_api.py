"""The upload API: sessions, batch registration, S3 multipart through real presigned URLs (SeaweedFS's
server over HTTP), local chunks with Content-Range, completion, ingest status, and who may."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from rest_framework.test import APIClient

from ingest.models import UploadSession, UploadSessionState
from openem.celery import app as celery_app
from openem_client.files import part_crc32
from repository.models import DataFile, Dataset, DatasetStatus, FileState, TokenScope
from repository.services import dataset_create
from tests.services import composite_crc32, stored_crc32
from tests.support.api import error_of

MiB = 1024 * 1024
UPLOADS = "/api/v1/uploads/"


@pytest.fixture
def eager() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def dataset(world: Any) -> Dataset:
    """A draft dataset of the world's facility, in its project (so that 'member' sees it)."""
    return dataset_create(
        actor=world["staff"],
        facility=world.facility,
        project=world.project,
        instrument=world.instrument,
        technique="spa",
        title="Apoferritin upload",
    )


@pytest.fixture
def staff(client_for: Callable[..., APIClient]) -> APIClient:
    return client_for("staff")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_session(client: APIClient, dataset: Dataset) -> dict[str, Any]:
    response = client.post(UPLOADS, {"dataset": dataset.pid}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def register(client: APIClient, session: dict[str, Any], files: list[dict[str, Any]]) -> Any:
    return client.post(session["files_url"], {"files": files}, format="json")


# ---------------------------------------------------------------------------------------------
# Who may upload


@pytest.mark.parametrize(
    ("persona", "status_code", "code"),
    [
        ("anonymous", 401, "not_authenticated"),
        ("stranger", 404, "not_found"),  # a draft: not even visible
        ("other_staff", 404, "not_found"),  # staff of another facility
        ("member", 403, "permission_denied"),  # sees the dataset, may not upload into it
    ],
)
def test_only_staff_of_the_facility_open_upload_sessions(
    client_for, dataset, local_storage, persona, status_code, code
):
    response = client_for(persona).post(UPLOADS, {"dataset": dataset.pid}, format="json")

    assert response.status_code == status_code
    assert error_of(response)["code"] == code
    assert not UploadSession.objects.exists()


@pytest.mark.parametrize("persona", ["staff", "curator", "admin"])
def test_staff_curators_and_admins_open_upload_sessions(
    client_for, dataset, local_storage, persona
):
    session = open_session(client_for(persona), dataset)

    assert session["dataset"] == dataset.pid
    assert session["state"] == "open"
    assert session["storage"] == "local"
    assert session["created_by"] == persona
    assert session["url"].endswith(f"/api/v1/uploads/{session['id']}/")
    assert UploadSession.objects.get(pk=session["id"]).dataset == dataset


def test_a_read_only_token_cannot_upload(client_for, dataset, local_storage):
    response = client_for("staff", scope=TokenScope.READ).post(
        UPLOADS, {"dataset": dataset.pid}, format="json"
    )

    assert response.status_code == 403
    assert error_of(response)["code"] == "token_read_only"


def test_sessions_and_their_files_are_hidden_from_people_who_cannot_upload(
    client_for, staff, dataset, local_storage
):
    session = open_session(staff, dataset)
    register(staff, session, [{"path": "a.mrc", "size": 3}])

    for persona in ("member", "stranger", "other_staff"):
        client = client_for(persona)
        assert client.get(UPLOADS).json()["results"] == []
        for url in (session["url"], session["files_url"], session["status_url"]):
            response = client.get(url)
            assert response.status_code == 404, (persona, url)
            assert "no upload session" in error_of(response)["message"]
        response = register(client, session, [{"path": "b.mrc", "size": 3}])
        assert response.status_code == 404
    assert DataFile.objects.count() == 1


def test_a_published_dataset_takes_no_upload_session(staff, world, dataset, local_storage):
    Dataset.objects.filter(pk=dataset.pk).update(status=DatasetStatus.PUBLISHED)

    response = staff.post(UPLOADS, {"dataset": dataset.pid}, format="json")

    assert response.status_code == 409
    assert "published" in error_of(response)["message"]


def test_sessions_are_listed_by_dataset_and_state(staff, world, dataset, local_storage):
    first = open_session(staff, dataset)
    staff.post(first["complete_url"])
    second = open_session(staff, dataset)
    other = dataset_create(
        actor=world["staff"], facility=world.facility, technique="spa", title="Other"
    )
    open_session(staff, other)

    listed = staff.get(UPLOADS, {"dataset": dataset.pid, "state": "open"}).json()

    assert [s["id"] for s in listed["results"]] == [second["id"]]
    assert staff.get(UPLOADS, {"dataset": dataset.pid}).json()["count"] == 2
    response = staff.get(UPLOADS, {"state": "sleeping"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_failed"


# ---------------------------------------------------------------------------------------------
# Batch registration


def test_a_thousand_files_register_in_one_request(staff, dataset, s3_storage, settings):
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * MiB
    session = open_session(staff, dataset)
    files = [
        {"path": f"Images-Disc1/GridSquare_{i // 100}/Data/FoilHole_{i}.eer", "size": i * MiB}
        for i in range(1000)
    ]
    files[5]["sha256"] = sha256(b"x")

    response = register(staff, session, files)

    assert response.status_code == 201, response.content
    registered = response.json()["files"]
    assert [f["path"] for f in registered] == [f["path"] for f in files]
    assert len({f["id"] for f in registered}) == 1000
    assert DataFile.objects.filter(upload_session_id=session["id"]).count() == 1000
    assert registered[5]["sha256"] == sha256(b"x")
    assert registered[0]["size"] == 0  # zero-byte files are allowed
    assert registered[0]["upload"]["part_count"] == 1
    upload = registered[11]["upload"]
    assert upload["method"] == "multipart"
    assert (upload["part_size"], upload["part_count"]) == (5 * MiB, 3)
    assert upload["url"].endswith(
        f"/api/v1/uploads/{session['id']}/files/{registered[11]['id']}/multipart"
    )
    assert {f["state"] for f in registered} == {"registered"}


def test_bad_entries_are_refused_by_index_and_nothing_is_stored(staff, dataset, local_storage):
    session = open_session(staff, dataset)
    assert register(staff, session, [{"path": "Maps/already.mrc", "size": 10}]).status_code == 201
    files = [
        {"path": "Images/ok.mrc", "size": 100},
        {"path": "../../etc/passwd", "size": 10},
        {"path": "/absolute/file.mrc", "size": 10},
        {"path": "Images/ok.mrc", "size": 100},
        {"path": "Images/negative.mrc", "size": -1},
        {"path": "Images/empty.mrc", "size": 0},
        {"path": "Images/bad-sum.mrc", "size": 10, "sha256": "not-a-checksum"},
        "just a string",
        {"path": "Images/text-size.mrc", "size": "12"},
        {"path": "Maps/already.mrc", "size": 10},
        {"path": "Images/huge.mrc", "size": 2**70},
    ]

    response = register(staff, session, files)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_failed"
    # The object check comes first and stops there: fix the shape, then the contents.
    assert error["details"] == [
        {"index": 7, "path": "", "message": "each file must be a JSON object"},
        {"index": 10, "path": "Images/huge.mrc", "message": "size is too large"},
    ]
    del files[10], files[7]

    response = register(staff, session, files)

    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == "7 of 9 files cannot be registered"
    by_index = {problem["index"]: problem["message"] for problem in error["details"]}
    assert sorted(by_index) == [1, 2, 3, 4, 6, 7, 8]
    assert "leaves the session folder" in by_index[1]
    assert "absolute" in by_index[2]
    assert by_index[3] == "duplicate of entry 0"
    assert "size must be a whole number" in by_index[4]
    assert "sha256 must be 64 hexadecimal" in by_index[6]
    assert "size must be a whole number" in by_index[7]
    assert by_index[8] == "a file with this path is already in the dataset"
    assert DataFile.objects.filter(upload_session_id=session["id"]).count() == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "files: This field is required"),
        ({"files": []}, "files"),
        ({"files": "a.mrc"}, "files"),
    ],
)
def test_a_batch_must_be_a_list_of_files(staff, dataset, local_storage, body, fragment):
    session = open_session(staff, dataset)

    response = staff.post(session["files_url"], body, format="json")

    assert response.status_code == 400
    assert fragment in error_of(response)["message"]


def test_the_batch_limit_is_enforced(staff, dataset, local_storage):
    session = open_session(staff, dataset)

    response = register(staff, session, [{"path": f"f{i}", "size": 1} for i in range(10_001)])

    assert response.status_code == 400
    assert "10000" in error_of(response)["message"].replace(",", "")
    assert not DataFile.objects.exists()


def test_a_completed_session_takes_no_more_files(staff, dataset, local_storage):
    session = open_session(staff, dataset)
    register(staff, session, [{"path": "a.mrc", "size": 1}, {"path": "b.mrc", "size": 0}])

    completed = staff.post(session["complete_url"]).json()

    assert completed["session"]["state"] == "completed"
    assert (completed["files"], completed["missing_files"]) == (2, 2)
    response = register(staff, session, [{"path": "c.mrc", "size": 1}])
    assert response.status_code == 409
    assert "start a new one" in error_of(response)["message"]
    assert staff.post(session["complete_url"]).status_code == 409


# ---------------------------------------------------------------------------------------------
# S3 multipart, through the API and real presigned URLs


def _put_signed(part: dict[str, Any], data: bytes) -> str:
    response = requests.put(part["url"], data=data, headers=part["headers"], timeout=30)
    response.raise_for_status()
    return str(response.headers["ETag"])


def _put(url: str, data: bytes) -> str:
    response = requests.put(url, data=data, timeout=30)
    response.raise_for_status()
    return str(response.headers["ETag"])


def test_multipart_upload_through_the_api_resumes_and_is_ingested(
    staff, dataset, s3_storage, settings, eager, django_capture_on_commit_callbacks
):
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * MiB
    data = bytes(range(256)) * (11 * MiB // 256 + 7)
    session = open_session(staff, dataset)
    assert session["storage"] == "s3"
    [registered] = register(
        staff, session, [{"path": "Maps/noise.bin", "size": len(data), "sha256": sha256(data)}]
    ).json()["files"]

    started = staff.post(registered["upload"]["url"]).json()
    assert (started["part_size"], started["part_count"]) == (5 * MiB, 3)
    upload_id = started["upload_id"]
    chunks = [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)]
    wanted = [{"part_number": n, "checksum_crc32": part_crc32(c)} for n, c in enumerate(chunks, 1)]
    signed = staff.post(
        started["parts_url"], {"upload_id": upload_id, "parts": wanted}, format="json"
    ).json()
    assert [p["part_number"] for p in signed["parts"]] == [1, 2, 3]
    assert signed["parts"][0]["url"].startswith(s3_storage.endpoint_url)
    # Each URL signs its part's CRC32 as a header, which S3 checks the bytes against.
    for part, chunk in zip(signed["parts"], chunks, strict=True):
        assert part["headers"] == {"x-amz-checksum-crc32": part_crc32(chunk)}
        assert "X-Amz-SignedHeaders=host%3Bx-amz-checksum-crc32" in part["url"]
    _put_signed(signed["parts"][0], chunks[0])

    # Interrupted; starting again gives the same upload, whose parts say where to go on.
    assert staff.post(registered["upload"]["url"]).json()["upload_id"] == upload_id
    listed = staff.get(started["parts_url"], {"upload_id": upload_id}).json()
    assert [(p["part_number"], p["size"]) for p in listed["parts"]] == [(1, 5 * MiB)]
    early = staff.post(started["complete_url"], {"upload_id": upload_id}, format="json")
    assert early.status_code == 400
    assert error_of(early)["details"] == {
        "uploaded_bytes": 5 * MiB,
        "expected_bytes": len(data),
    }

    etags = {1: listed["parts"][0]["etag"]}
    etags |= {n: _put_signed(signed["parts"][n - 1], chunks[n - 1]) for n in (2, 3)}
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            started["complete_url"],
            {
                "upload_id": upload_id,
                "parts": [
                    {"part_number": n, "etag": e, "checksum_crc32": part_crc32(chunks[n - 1])}
                    for n, e in etags.items()
                ],
            },
            format="json",
        )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "stored"
    assert response.json()["upload"] is None

    status = staff.get(session["status_url"]).json()
    assert status["files_total"] == 1
    assert status["files_done"] + status["files_failed"] == 1
    datafile = DataFile.objects.get(pk=registered["id"])
    assert datafile.checksum_sha256 == sha256(data)
    # S3 assembled a CRC32 multipart object: its checksum is made of the parts' CRC32s.
    assert stored_crc32(datafile.storage_key) == composite_crc32([part_crc32(c) for c in chunks])
    # A stored file takes no more parts.
    again = staff.post(registered["upload"]["url"])
    assert again.status_code == 409
    assert "already uploaded" in error_of(again)["message"]


def test_multipart_start_can_presign_parts(staff, dataset, s3_storage, settings):
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * MiB
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "a.bin", "size": 12 * MiB}]).json()["files"]
    wanted = [{"part_number": n, "checksum_crc32": part_crc32(bytes([n]))} for n in (1, 2, 3)]

    started = staff.post(registered["upload"]["url"], {"parts": wanted}, format="json").json()

    assert started["part_count"] == 3
    assert [p["part_number"] for p in started["parts"]] == [1, 2, 3]
    assert all(f"uploadId={started['upload_id']}" in p["url"] for p in started["parts"])
    assert [p["headers"]["x-amz-checksum-crc32"] for p in started["parts"]] == [
        w["checksum_crc32"] for w in wanted
    ]
    assert started["expires_in"] == settings.OPENEM_PRESIGN_EXPIRY
    plain = staff.post(registered["upload"]["url"]).json()
    assert (plain["upload_id"], plain["parts"]) == (started["upload_id"], [])


@pytest.mark.parametrize(
    ("parts", "fragment"),
    [
        ([{"part_number": 4, "checksum_crc32": "AAAAAA=="}], "there is no part 4"),
        ([{"part_number": 0, "checksum_crc32": "AAAAAA=="}], "greater than or equal to 1"),
        ([{"part_number": 1}], "checksum_crc32"),
        ([{"part_number": 1, "checksum_crc32": "not-base64"}], "4 bytes in base64"),
        ([{"part_number": 1, "checksum_crc32": "AAAAAAAA"}], "4 bytes in base64"),
        (
            [{"part_number": 1, "checksum_crc32": "AAAAAA=="}] * 2,
            "part 1 is listed more than once",
        ),
        ([{"part_number": n, "checksum_crc32": "AAAAAA=="} for n in range(1, 1002)], "1000"),
        ("1,2,3", "list"),
    ],
)
def test_parts_to_sign_are_checked(staff, dataset, s3_storage, settings, parts, fragment):
    settings.OPENEM_UPLOAD_PART_SIZE = 5 * MiB
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "a.bin", "size": 12 * MiB}]).json()["files"]
    started = staff.post(registered["upload"]["url"]).json()

    with_start = staff.post(registered["upload"]["url"], {"parts": parts}, format="json")
    signing = staff.post(
        started["parts_url"], {"upload_id": started["upload_id"], "parts": parts}, format="json"
    )

    for response in (with_start, signing):
        assert response.status_code == 400, response.content
        assert fragment in str(error_of(response)), error_of(response)


def test_multipart_abort_and_bad_upload_ids(staff, dataset, s3_storage):
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "a.bin", "size": 10}]).json()["files"]
    started = staff.post(registered["upload"]["url"]).json()

    wrong = staff.get(started["parts_url"], {"upload_id": "nope"})
    assert wrong.status_code == 400
    assert "unknown upload id" in error_of(wrong)["message"]
    missing = staff.get(started["parts_url"])
    assert missing.status_code == 400
    assert "upload_id" in error_of(missing)["message"]
    wrong_sign = staff.post(
        started["parts_url"],
        {"upload_id": "nope", "parts": [{"part_number": 1, "checksum_crc32": "AAAAAA=="}]},
        format="json",
    )
    assert wrong_sign.status_code == 400
    assert "unknown upload id" in error_of(wrong_sign)["message"]

    response = staff.delete(registered["upload"]["url"] + f"?upload_id={started['upload_id']}")

    assert response.status_code == 204
    assert DataFile.objects.get(pk=registered["id"]).upload_id == ""
    restarted = staff.post(registered["upload"]["url"]).json()
    assert restarted["upload_id"] != started["upload_id"]


def test_multipart_endpoints_say_to_use_chunks_on_local_storage(staff, dataset, local_storage):
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "a.bin", "size": 10}]).json()["files"]
    assert registered["upload"]["method"] == "chunks"
    multipart = registered["upload"]["url"].replace("/content", "/multipart")

    response = staff.post(multipart)

    assert response.status_code == 409
    assert "chunked upload endpoint" in error_of(response)["message"]


def test_options_on_a_content_endpoint_is_answered_not_a_500(
    staff, client_for, dataset, local_storage
):
    # Found by the fuzz test: DRF's OPTIONS asks the view for the object a PUT would change,
    # and the content view had none to give (500 for every OPTIONS request).
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "a.bin", "size": 10}]).json()["files"]
    content_url = registered["upload"]["url"]

    response = staff.options(content_url)
    stranger = client_for("stranger").options(content_url)
    unknown = staff.options(content_url.replace(f"/files/{registered['id']}/", "/files/0/"))

    assert response.status_code == 200
    assert {"GET", "PUT", "POST"} <= {m.strip() for m in response["Allow"].split(",")}
    assert "PUT" in response.json()["actions"]
    assert stranger.status_code == unknown.status_code == 200
    # The PUT is described only to those who may send it to this file.
    assert "PUT" not in stranger.json().get("actions", {})
    assert "PUT" not in unknown.json().get("actions", {})
    assert DataFile.objects.get(pk=registered["id"]).state == FileState.REGISTERED


# ---------------------------------------------------------------------------------------------
# Local chunks


def test_local_chunks_with_content_range_resume_and_complete(
    staff, dataset, local_storage, eager, django_capture_on_commit_callbacks
):
    data = b"0123456789" * 1000
    session = open_session(staff, dataset)
    [registered] = register(
        staff, session, [{"path": "Images/a.bin", "size": len(data), "sha256": sha256(data)}]
    ).json()["files"]
    content_url = registered["upload"]["url"]
    assert registered["upload"]["method"] == "chunks"

    offset = staff.get(content_url)
    assert offset.json() == {
        "offset": 0,
        "size": len(data),
        "state": "registered",
        "complete": False,
    }
    assert offset["Upload-Offset"] == "0"
    first = staff.put(
        content_url,
        data[:4000],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-3999/{len(data)}",
    )
    assert first.status_code == 200, first.content
    assert first.json()["offset"] == 4000

    # A client that lost track sends from the start again: refused, told where to go on.
    wrong = staff.put(
        content_url, data[:10], content_type="application/octet-stream", QUERY_STRING="offset=0"
    )
    assert wrong.status_code == 409
    assert error_of(wrong)["details"] == {"offset": 4000}
    assert staff.head(content_url)["Upload-Offset"] == "4000"
    bad_range = staff.put(
        content_url,
        data[4000:4010],
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE="bytes 4000-4999/10000",
    )
    assert bad_range.status_code == 400
    assert "Content-Length" in error_of(bad_range)["message"]
    no_offset = staff.put(content_url, data[4000:], content_type="application/octet-stream")
    assert no_offset.status_code == 400
    assert "Content-Range" in error_of(no_offset)["message"]
    too_long = staff.post(
        f"{content_url}?offset=4000", data[4000:] + b"!", content_type="application/octet-stream"
    )
    assert too_long.status_code == 400
    assert "past the registered size" in error_of(too_long)["message"]

    with django_capture_on_commit_callbacks(execute=True):
        last = staff.post(
            f"{content_url}?offset=4000", data[4000:], content_type="application/octet-stream"
        )
    assert last.status_code == 200, last.content
    assert last.json()["complete"] is True
    assert last.json()["offset"] == len(data)

    datafile = DataFile.objects.get(pk=registered["id"])
    assert datafile.state in (FileState.READY, FileState.FAILED)
    assert datafile.checksum_sha256 == sha256(data)
    assert (local_storage / datafile.storage_key).read_bytes() == data
    after = staff.get(content_url).json()
    assert after["complete"] is True and after["offset"] == len(data)


def test_a_zero_byte_file_is_stored_by_one_empty_chunk(staff, dataset, local_storage):
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "empty.txt", "size": 0}]).json()["files"]

    response = staff.put(
        registered["upload"]["url"] + "?offset=0", b"", content_type="application/octet-stream"
    )

    assert response.status_code == 200, response.content
    assert response.json()["complete"] is True
    assert DataFile.objects.get(pk=registered["id"]).state == FileState.STORED


def test_chunks_of_a_file_of_another_session_are_not_found(staff, dataset, local_storage):
    first = open_session(staff, dataset)
    second = open_session(staff, dataset)
    [registered] = register(staff, first, [{"path": "a", "size": 1}]).json()["files"]

    response = staff.put(
        f"{second['url']}files/{registered['id']}/content?offset=0",
        b"x",
        content_type="application/octet-stream",
    )

    assert response.status_code == 404
    assert f"upload session {second['id']} has no file" in error_of(response)["message"]


# ---------------------------------------------------------------------------------------------
# Session files and ingest status


def test_session_files_are_listed_with_their_states(staff, dataset, local_storage):
    session = open_session(staff, dataset)
    register(staff, session, [{"path": f"d/{i:02}.bin", "size": 1} for i in range(5)])
    [stored] = DataFile.objects.filter(path="d/03.bin")
    DataFile.objects.filter(pk=stored.pk).update(state=FileState.STORED)

    page = staff.get(session["files_url"], {"page_size": 2}).json()
    assert [f["path"] for f in page["results"]] == ["d/00.bin", "d/01.bin"]
    rest = staff.get(page["next"]).json()
    assert [f["path"] for f in rest["results"]] == ["d/02.bin", "d/03.bin"]
    assert rest["results"][1]["upload"] is None
    registered = staff.get(session["files_url"], {"state": "registered"}).json()["results"]
    assert len(registered) == 4
    assert staff.get(session["files_url"], {"state": "lost"}).status_code == 400
    prefixed = staff.get(session["files_url"], {"prefix": "d/04"}).json()["results"]
    assert [f["path"] for f in prefixed] == ["d/04.bin"]


def test_the_status_counts_files_and_bytes_and_explains_failures(staff, dataset, local_storage):
    session = open_session(staff, dataset)
    register(
        staff,
        session,
        [
            {"path": "ok.mrc", "size": 100},
            {"path": "broken.mrc", "size": 30},
            {"path": "waiting.mrc", "size": 7},
        ],
    )
    DataFile.objects.filter(path="ok.mrc").update(state=FileState.READY)
    DataFile.objects.filter(path="broken.mrc").update(
        state=FileState.FAILED, error="checksum mismatch: the uploader declared another SHA-256"
    )

    status = staff.get(session["status_url"]).json()

    assert status["session"] == session["id"]
    assert status["dataset"] == dataset.pid
    assert status["session_state"] == "open"
    assert (status["files_total"], status["files_done"], status["files_failed"]) == (3, 1, 1)
    assert (status["bytes_total"], status["bytes_done"], status["bytes_failed"]) == (137, 100, 30)
    assert (status["files_pending"], status["bytes_pending"]) == (1, 7)
    assert status["files_by_state"] == {
        "registered": 1,
        "stored": 0,
        "processing": 0,
        "ready": 1,
        "failed": 1,
    }
    assert status["settled"] is False
    [failed] = status["failed_files"]
    assert failed["path"] == "broken.mrc"
    assert failed["error"].startswith("checksum mismatch")


def test_unknown_sessions_and_files_are_not_found(staff, dataset, local_storage):
    response = staff.get(f"{UPLOADS}999999/status")
    assert response.status_code == 404
    session = open_session(staff, dataset)
    response = staff.get(f"{session['url']}files/999999/content")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert UploadSession.objects.get(pk=session["id"]).state == UploadSessionState.OPEN


# --- the SHA-256 declared when an upload completes (clients hash while they send) ---------------


def _multipart_ready_to_complete(
    staff: APIClient, dataset: Dataset, data: bytes, sha: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    session = open_session(staff, dataset)
    entry = {"path": "Maps/declared.bin", "size": len(data)} | ({"sha256": sha} if sha else {})
    [registered] = register(staff, session, [entry]).json()["files"]
    started = staff.post(
        registered["upload"]["url"],
        {"parts": [{"part_number": 1, "checksum_crc32": part_crc32(data)}]},
        format="json",
    ).json()
    _put_signed(started["parts"][0], data)
    return registered, started


def test_a_multipart_completion_declares_the_files_sha256_and_ingest_checks_it(
    staff, dataset, s3_storage, eager, django_capture_on_commit_callbacks
):
    data = b"declared later" * 100
    registered, started = _multipart_ready_to_complete(staff, dataset, data)
    assert DataFile.objects.get(pk=registered["id"]).expected_sha256 == ""

    with django_capture_on_commit_callbacks(execute=True):
        done = staff.post(
            started["complete_url"],
            {"upload_id": started["upload_id"], "sha256": sha256(data).upper()},
            format="json",
        )

    assert done.status_code == 200, done.content
    assert done.json()["sha256"] == sha256(data)
    datafile = DataFile.objects.get(pk=registered["id"])
    assert (datafile.expected_sha256, datafile.checksum_sha256) == (sha256(data), sha256(data))
    assert datafile.state == FileState.READY, datafile.error


def test_a_declared_sha256_that_differs_from_the_bytes_fails_ingest(
    staff, dataset, s3_storage, eager, django_capture_on_commit_callbacks
):
    data = b"the bytes sent" * 100
    registered, started = _multipart_ready_to_complete(staff, dataset, data)

    with django_capture_on_commit_callbacks(execute=True):
        done = staff.post(
            started["complete_url"],
            {"upload_id": started["upload_id"], "sha256": sha256(b"other bytes")},
            format="json",
        )

    assert done.status_code == 200, done.content
    datafile = DataFile.objects.get(pk=registered["id"])
    assert datafile.state == FileState.FAILED
    assert "sha256" in datafile.error.lower() or "checksum" in datafile.error.lower()


@pytest.mark.parametrize(
    ("declared", "fragment"),
    [
        ("abc", "64 hexadecimal characters"),
        ("g" * 64, "64 hexadecimal characters"),
        ("a" * 65, "64"),
        (sha256(b"something else"), "differs from the one registered"),
    ],
)
def test_a_bad_declared_sha256_is_refused_and_nothing_changes(
    staff, dataset, s3_storage, declared, fragment
):
    data = b"registered with its checksum" * 100
    registered, started = _multipart_ready_to_complete(staff, dataset, data, sha256(data))

    refused = staff.post(
        started["complete_url"],
        {"upload_id": started["upload_id"], "sha256": declared},
        format="json",
    )

    assert refused.status_code == 400
    assert fragment in str(error_of(refused))
    datafile = DataFile.objects.get(pk=registered["id"])
    assert (datafile.state, datafile.expected_sha256) == (FileState.REGISTERED, sha256(data))
    assert datafile.upload_id == started["upload_id"]  # the parts are still there to complete
    listed = staff.get(started["parts_url"], {"upload_id": started["upload_id"]}).json()
    assert [p["size"] for p in listed["parts"]] == [len(data)]
    # The right one completes it.
    same = staff.post(
        started["complete_url"],
        {"upload_id": started["upload_id"], "sha256": sha256(data)},
        format="json",
    )
    assert same.status_code == 200, same.content


def test_the_last_chunk_declares_the_files_sha256(
    staff, dataset, local_storage, eager, django_capture_on_commit_callbacks
):
    data = b"0123456789" * 1000
    session = open_session(staff, dataset)
    [registered] = register(staff, session, [{"path": "a.bin", "size": len(data)}]).json()["files"]
    url = registered["upload"]["url"]
    first = staff.put(f"{url}?offset=0", data[:4000], content_type="application/octet-stream")
    assert first.status_code == 200, first.content

    wrong = staff.put(
        f"{url}?offset=4000&sha256=xyz", data[4000:], content_type="application/octet-stream"
    )
    assert wrong.status_code == 400
    assert "64 hexadecimal characters" in error_of(wrong)["message"]
    assert staff.get(url).json()["offset"] == 4000  # nothing was appended

    with django_capture_on_commit_callbacks(execute=True):
        last = staff.put(
            f"{url}?offset=4000&sha256={sha256(data)}",
            data[4000:],
            content_type="application/octet-stream",
        )

    assert last.status_code == 200, last.content
    datafile = DataFile.objects.get(pk=registered["id"])
    assert (datafile.expected_sha256, datafile.state) == (sha256(data), FileState.READY)

"""Files through the API: cursor pagination, filters, detail, and downloads with Range."""

from __future__ import annotations

import hashlib

import pytest
import requests
from rest_framework.test import APIClient

from repository.models import AuditAction, AuditEvent, DataFile, FileState, Visibility
from tests.factories import DatasetFactory
from tests.services import signed_for
from tests.support.api import bulk_files, error_of

CONTENT = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable


@pytest.fixture
def dataset(world):
    return DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)


def _follow(client: APIClient, url: str, params=None) -> list[list[dict]]:
    pages = []
    response = client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert "count" not in body  # cursors: no COUNT(*) over a million rows
        pages.append(body["results"])
        if not body["next"]:
            return pages
        response = client.get(body["next"])


def test_cursor_pagination_over_250_files_with_a_prefix(world, dataset):
    movies = [f"Images-Disc1/GridSquare_{i // 50}/movie_{i:04d}.eer" for i in range(250)]
    others = [f"Images-Disc2/movie_{i:04d}.eer" for i in range(30)] + ["Images-Disc10.txt"]
    bulk_files(dataset, movies[::-1] + others)  # inserted out of order

    pages = _follow(
        APIClient(),
        f"/api/v1/datasets/{dataset.pid}/files/",
        {"prefix": "Images-Disc1/", "page_size": 100},
    )

    assert [len(page) for page in pages] == [100, 100, 50]
    paths = [item["path"] for page in pages for item in page]
    assert paths == sorted(movies)


def test_cursor_pagination_by_id_and_backwards(world, dataset):
    bulk_files(dataset, [f"z/{i:03d}.tif" for i in range(120)])
    ids = list(DataFile.objects.filter(dataset=dataset).order_by("id").values_list("id", flat=True))
    client = APIClient()

    first = client.get(
        f"/api/v1/datasets/{dataset.pid}/files/", {"ordering": "id", "page_size": 50}
    ).json()
    second = client.get(first["next"]).json()
    back = client.get(second["previous"]).json()

    assert [f["id"] for f in first["results"]] == ids[:50]
    assert [f["id"] for f in second["results"]] == ids[50:100]
    assert back["results"] == first["results"]
    newest = client.get(f"/api/v1/datasets/{dataset.pid}/files/", {"ordering": "-id"}).json()
    assert newest["results"][0]["id"] == ids[-1]


def test_files_filters(world, dataset):
    bulk_files(dataset, ["a/1.mrc", "a/2.mrc"], format="mrc")
    bulk_files(dataset, ["a/3.eer"], format="eer")
    DataFile.objects.filter(path="a/2.mrc").update(state=FileState.FAILED, error="bad header")
    url = f"/api/v1/datasets/{dataset.pid}/files/"

    def paths(params):
        return [f["path"] for f in APIClient().get(url, params).json()["results"]]

    assert paths({"format": "mrc"}) == ["a/1.mrc", "a/2.mrc"]
    assert paths({"state": "failed"}) == ["a/2.mrc"]
    assert paths({"format": "mrc", "state": "ready"}) == ["a/1.mrc"]
    assert paths({"prefix": "a/3"}) == ["a/3.eer"]
    assert paths({"prefix": "%"}) == []  # a pattern character is matched literally


@pytest.mark.parametrize(
    ("params", "field"), [({"ordering": "size"}, "ordering"), ({"state": "lost"}, "state")]
)
def test_invalid_file_listing_parameters(world, dataset, params, field):
    response = APIClient().get(f"/api/v1/datasets/{dataset.pid}/files/", params)
    assert response.status_code == 400
    assert field in error_of(response)["details"]


def test_file_detail_has_header_and_checksums(world, dataset, store_file):
    datafile = store_file(
        dataset,
        "Images-Disc1/map.mrc",
        CONTENT,
        format="mrc",
        checksum_md5=hashlib.md5(CONTENT).hexdigest(),  # noqa: S324
        header={"nx": 4096, "ny": 4096, "pixel_size_angstrom": 0.83},
    )

    listed = APIClient().get(f"/api/v1/datasets/{dataset.pid}/files/").json()["results"][0]
    detail = APIClient().get(listed["url"]).json()

    assert listed["id"] == datafile.pk
    assert "header" not in listed
    assert detail["checksum_sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert detail["checksum_md5"] == hashlib.md5(CONTENT).hexdigest()  # noqa: S324
    assert detail["header"]["pixel_size_angstrom"] == 0.83
    assert detail["size"] == len(CONTENT)
    assert detail["download_url"].endswith(f"/files/{datafile.pk}/download")


def test_file_of_another_dataset_is_404(world, dataset, store_file):
    elsewhere = DatasetFactory(facility=world.facility)
    datafile = store_file(elsewhere, "x.mrc", b"x")

    detail = APIClient().get(f"/api/v1/datasets/{dataset.pid}/files/{datafile.pk}/")
    download = APIClient().get(f"/api/v1/datasets/{dataset.pid}/files/{datafile.pk}/download")

    assert (detail.status_code, download.status_code) == (404, 404)
    assert error_of(download)["code"] == "not_found"


# --- downloads ----------------------------------------------------------------------------------


def _download(dataset, datafile, **headers):
    url = f"/api/v1/datasets/{dataset.pid}/files/{datafile.pk}/download"
    return APIClient().get(url, headers=headers)


def test_whole_file_download(world, dataset, store_file):
    datafile = store_file(dataset, "Images-Disc1/a b\u00e9.eer", CONTENT)

    response = _download(dataset, datafile)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT
    assert response["Content-Length"] == str(len(CONTENT))
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == f'"{datafile.checksum_sha256}"'
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=utf-8''a%20b%C3%A9.eer" in response["Content-Disposition"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, len(CONTENT) - 1),
        ("bytes=-256", len(CONTENT) - 256, len(CONTENT) - 1),
        ("bytes=10000-99999", 10000, len(CONTENT) - 1),  # clipped to the end
    ],
)
def test_range_download(world, dataset, store_file, header, start, end):
    datafile = store_file(dataset, "a.eer", CONTENT)

    response = _download(dataset, datafile, Range=header)

    assert response.status_code == 206
    assert b"".join(response.streaming_content) == CONTENT[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(CONTENT)}"
    assert response["Content-Length"] == str(end - start + 1)


def test_range_past_the_end_is_416(world, dataset, store_file):
    datafile = store_file(dataset, "a.eer", CONTENT)

    response = _download(dataset, datafile, Range=f"bytes={len(CONTENT)}-")

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CONTENT)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "pages=1-2", "bytes=9-1"])
def test_ranges_we_do_not_serve_get_the_whole_file(world, dataset, store_file, header):
    datafile = store_file(dataset, "a.eer", CONTENT)

    response = _download(dataset, datafile, Range=header)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == CONTENT


def test_if_range_resumes_only_the_same_version(world, dataset, store_file):
    datafile = store_file(dataset, "a.eer", CONTENT)
    etag = f'"{datafile.checksum_sha256}"'

    same = _download(dataset, datafile, Range="bytes=100-", **{"If-Range": etag})
    changed = _download(dataset, datafile, Range="bytes=100-", **{"If-Range": '"other"'})

    assert same.status_code == 206
    assert b"".join(same.streaming_content) == CONTENT[100:]
    assert changed.status_code == 200
    assert b"".join(changed.streaming_content) == CONTENT


def test_head_sends_headers_only(world, dataset, store_file):
    datafile = store_file(dataset, "a.eer", CONTENT)

    response = APIClient().head(f"/api/v1/datasets/{dataset.pid}/files/{datafile.pk}/download")

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(CONTENT))
    assert response.content == b""


def test_non_public_downloads_are_audited_once_per_download(world, store_file):
    private = DatasetFactory(facility=world.facility, visibility=Visibility.PRIVATE)
    datafile = store_file(private, "secret.mrc", CONTENT)
    client = APIClient()
    client.force_login(world["staff"])
    url = f"/api/v1/datasets/{private.pid}/files/{datafile.pk}/download"

    for header in ("bytes=0-4095", "bytes=4096-8191", "bytes=8192-"):  # one parallel download
        assert client.get(url, headers={"Range": header}).status_code == 206

    events = AuditEvent.objects.filter(action=AuditAction.DOWNLOAD)
    assert events.count() == 1
    event = events.get()
    assert (event.actor, event.dataset, event.target_id) == (
        world["staff"],
        private,
        str(datafile.pk),
    )
    assert event.details["path"] == "secret.mrc"


def test_public_downloads_are_not_audited(world, dataset, store_file):
    datafile = store_file(dataset, "a.eer", CONTENT)
    _download(dataset, datafile)
    assert not AuditEvent.objects.filter(action=AuditAction.DOWNLOAD).exists()


def test_file_not_uploaded_yet_is_409(world, dataset, store_file):
    datafile = store_file(dataset, "a.eer", CONTENT, state=FileState.REGISTERED)

    response = _download(dataset, datafile)

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "conflict"
    assert "a.eer" in error["message"]


def test_missing_object_is_a_clear_error_not_a_traceback(world, dataset, store_file):
    datafile = store_file(dataset, "a.eer", CONTENT)
    DataFile.objects.filter(pk=datafile.pk).update(storage_key="datasets/none/files/gone")

    response = _download(dataset, datafile)

    assert response.status_code == 500
    assert error_of(response)["code"] == "storage_object_missing"


def test_errors_are_json_whatever_the_client_accepts(world):
    private = DatasetFactory(facility=world.facility, visibility=Visibility.PRIVATE)
    response = APIClient().get(
        f"/api/v1/datasets/{private.pid}/files/1/download", headers={"Accept": "text/plain"}
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "not_found"


def _s3_file(dataset) -> DataFile:
    from storage import get_store

    key = f"datasets/{dataset.pid}/files/0001"
    get_store().put(key, CONTENT)
    return DataFile.objects.create(
        dataset=dataset,
        path="Images/a.eer",
        directory="Images",
        name="a.eer",
        size=len(CONTENT),
        storage_key=key,
        state=FileState.READY,
    )


def test_s3_download_redirects_to_a_presigned_url(world, s3_storage):
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)
    datafile = _s3_file(dataset)

    response = _download(dataset, datafile)

    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(s3_storage.endpoint_url)
    assert "X-Amz-Signature=" in location
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == CONTENT
    assert 'filename="a.eer"' in fetched.headers["Content-Disposition"]
    ranged = requests.get(location, headers={"Range": "bytes=10-19"}, timeout=10)
    assert ranged.content == CONTENT[10:20]


def test_s3_download_answers_head_through_its_redirect(world, s3_storage, live_server):
    # A HEAD was redirected to a URL presigned for GET, which S3 refuses (403): the signature
    # covers the method. Clients could not learn a file's size and ETag before downloading it.
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)
    datafile = _s3_file(dataset)
    url = f"{live_server.url}/api/v1/datasets/{dataset.pid}/files/{datafile.pk}/download"

    head = requests.head(url, allow_redirects=True, timeout=10)

    assert [r.status_code for r in head.history] == [302]
    location = head.history[0].headers["Location"]
    assert location.startswith(s3_storage.endpoint_url)
    assert signed_for(location, "HEAD", s3_storage)
    assert not signed_for(location, "GET", s3_storage)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) == len(CONTENT)
    assert head.headers["ETag"] == f'"{hashlib.md5(CONTENT).hexdigest()}"'  # noqa: S324
    # (SeaweedFS, like moto, applies response-content-disposition to GET only.)
    got = requests.get(url, timeout=10)  # GET still gets a URL presigned for GET
    assert got.content == CONTENT
    assert signed_for(got.history[0].headers["Location"], "GET", s3_storage)
    assert 'filename="a.eer"' in got.headers["Content-Disposition"]

"""The storage module, on local files and on the S3 server (SeaweedFS, over HTTP)."""

from __future__ import annotations

import hashlib
import io
import os

import mrcfile
import numpy as np
import pytest
import requests

import storage
from storage import ObjectNotFound, ObjectSource, RangedFile, object_key

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture(params=["local", "s3"])
def store(request):
    request.getfixturevalue("local_storage" if request.param == "local" else "s3_storage")
    return storage.get_store()


def test_put_size_ranged_read_and_stream(store):
    key = object_key("datasets", "oem-test", "files", "abc")
    assert store.put(key, io.BytesIO(PAYLOAD)) == len(PAYLOAD)
    assert store.size(key) == len(PAYLOAD)
    assert store.read(key, 1000, 64) == PAYLOAD[1000:1064]
    assert store.read(key, len(PAYLOAD) - 5, 100) == PAYLOAD[-5:]
    streamed = hashlib.sha256(b"".join(store.iter_chunks(key, chunk_size=1024 * 1024))).hexdigest()
    assert streamed == hashlib.sha256(PAYLOAD).hexdigest()


def test_missing_object_is_a_permanent_not_found(store):
    with pytest.raises(ObjectNotFound):
        store.size("datasets/none/files/missing")
    with pytest.raises(ObjectNotFound):
        store.read("datasets/none/files/missing", 0, 10)
    with pytest.raises(ObjectNotFound):
        list(store.iter_chunks("datasets/none/files/missing"))


def test_presigned_get_serves_the_bytes_over_http(s3_storage):
    store = storage.get_store()
    store.put("a/b", PAYLOAD[:4096])
    url = store.presign_get("a/b", filename='movie "1".eer', expires=120)
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == PAYLOAD[:4096]
    assert 'filename="movie 1.eer"' in response.headers["Content-Disposition"]


def test_local_store_has_no_presigned_url_and_rejects_escaping_keys(local_storage):
    store = storage.get_store()
    assert store.presign_get("x") is None
    for escaping in ("../../etc/passwd", "/etc/passwd", "a/../../x", "", ".", "a/.."):
        with pytest.raises(ValueError, match="escapes the storage root"):
            store.path(escaping)
    root = store.root
    assert store.path("datasets/x/../y/f.mrc") == root / "datasets" / "y" / "f.mrc"
    sibling = root.parent / (root.name + "-sibling")  # same prefix, outside the root
    with pytest.raises(ValueError, match="escapes the storage root"):
        store.path(f"../{sibling.name}/f")


@pytest.mark.parametrize("bad", ["", "..", "a/b", "tab\there"])
def test_object_keys_refuse_user_like_components(bad):
    with pytest.raises(ValueError):
        object_key("datasets", bad)


def test_ranged_file_lets_mrcfile_parse_a_header_with_few_requests(store, tmp_path):
    path = tmp_path / "map.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((64, 256, 256), dtype=np.float32))
        mrc.voxel_size = 1.06
    store.put("m/map", path.read_bytes())
    source = ObjectSource(store, "m/map")
    handle = RangedFile(source)
    from mrcfile.mrcinterpreter import MrcInterpreter

    interpreter = MrcInterpreter(iostream=handle, permissive=True, header_only=True)
    assert interpreter.header.nx == 256 and interpreter.header.nz == 64
    assert float(interpreter.voxel_size.x) == pytest.approx(1.06, rel=1e-5)
    assert source.stats.requests == 1
    assert source.stats.bytes_read <= 256 * 1024


def test_transient_errors_are_retried_and_permanent_ones_are_not():
    from botocore.exceptions import ClientError

    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] < 3:
            raise ClientError(
                {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}},
                "GetObject",
            )
        return "ok"

    assert storage.with_retries(flaky, key="k", base_delay=0.001) == "ok"
    assert calls["n"] == 3

    denied = {"n": 0}

    def forbidden():
        denied["n"] += 1
        raise ClientError(
            {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
            "GetObject",
        )

    with pytest.raises(storage.AccessDenied):
        storage.with_retries(forbidden, key="k", base_delay=0.001)
    assert denied["n"] == 1


def test_list_keys_by_prefix_and_delete_them(store):
    run1 = [
        object_key("depositions", "oem-x", "empiar", "7-run1", "data", f"m{i}.eer")
        for i in range(3)
    ]
    run2 = [object_key("depositions", "oem-x", "empiar", "7-run2", f"m{i}.eer") for i in range(2)]
    other = object_key("depositions", "oem-x", "empiar", "17-run1", "manifest.json")
    for key in [*run1, *run2, other]:
        store.put(key, b"frames")
    assert sorted(store.list_keys("depositions/oem-x/empiar/7-")) == sorted(run1 + run2)
    assert sorted(store.list_keys("depositions/oem-x/empiar/7-run1/")) == sorted(run1)
    assert list(store.list_keys("depositions/oem-x/empiar/8-")) == []
    assert list(store.list_keys("depositions/absent/")) == []
    assert store.delete_keys(iter(run1)) == 3
    assert sorted(store.list_keys("depositions/oem-x/")) == sorted([*run2, other])
    with pytest.raises(ObjectNotFound):
        store.size(run1[0])


def test_listing_and_deleting_more_than_a_page(s3_storage):
    store = storage.get_store()
    keys = [object_key("packages", "p", f"f{i:05d}") for i in range(2503)]
    for key in keys:
        store.client.put_object(Bucket=store.bucket, Key=key, Body=b"")
    store.put(object_key("packages", "q", "kept"), b"other package")
    assert sorted(store.list_keys("packages/p/")) == keys  # three pages of at most 1,000
    assert (
        store.delete_keys(store_key for store_key in list(store.list_keys("packages/p/"))) == 2503
    )
    assert list(store.list_keys("packages/")) == ["packages/q/kept"]

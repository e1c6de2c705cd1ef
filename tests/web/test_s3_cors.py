"""Browsers upload parts straight to the bucket: it must answer their CORS preflight and let
them read each part's ETag."""

from __future__ import annotations

import base64
import zlib
from typing import Any

import pytest
import requests

import storage

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def test_configure_cors_allows_the_portal_origin_to_put_parts(s3_storage: Any) -> None:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    assert store.configure_cors(["http://portal.example"]) is True
    key = storage.object_key("cors", "probe")
    upload_id = store.multipart_create(key)
    body = b"x" * 10
    crc32 = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    url, headers = store.multipart_presign_part(key, upload_id, 1, crc32)
    preflight = requests.options(
        url,
        headers={
            "Origin": "http://portal.example",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": ", ".join(headers),  # the part's CRC32
        },
        timeout=10,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://portal.example"
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert allowed == "*" or "x-amz-checksum-crc32" in allowed
    put = requests.put(
        url, data=body, headers={"Origin": "http://portal.example", **headers}, timeout=10
    )
    assert put.status_code == 200
    assert put.headers["Access-Control-Allow-Origin"] == "http://portal.example"
    assert "ETag" in put.headers["Access-Control-Expose-Headers"]
    refused = requests.options(
        url,
        headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "PUT"},
        timeout=10,
    )
    assert refused.status_code == 403  # the bucket's rules refuse other origins
    store.multipart_abort(key, upload_id)


def test_servers_without_bucket_cors_are_reported_not_fatal(s3_storage: Any) -> None:
    """MinIO's community edition answers NotImplemented (its CORS is server-wide)."""
    from botocore.stub import Stubber

    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    with Stubber(store.client) as stub:
        stub.add_client_error(
            "put_bucket_cors", service_error_code="NotImplemented", http_status_code=501
        )
        assert store.configure_cors(["http://portal.example"]) is False
        stub.add_client_error(
            "put_bucket_cors", service_error_code="AccessDenied", http_status_code=403
        )
        with pytest.raises(storage.AccessDenied):
            store.configure_cors(["http://portal.example"])

"""What a real S3 server (SeaweedFS) refuses, which moto's server accepted: tampered, expired and
wrong-method presigned URLs, a part whose body differs from its signed CRC32, and credentials
without access to the bucket (reported with what to fix, by ``manage.py check_storage``)."""

from __future__ import annotations

import base64
import time
import zlib
from typing import Any

import pytest
import requests
from django.core.management import CommandError, call_command

import storage
from bench import seaweedfs

pytestmark = [pytest.mark.django_db, pytest.mark.services]


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _stored(content: bytes) -> tuple[storage.S3Store, str]:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    key = storage.object_key("probe", "a.bin")
    store.client.put_object(Bucket=store.bucket, Key=key, Body=content)
    return store, key


def test_a_tampered_presigned_url_is_refused(s3_storage: Any) -> None:
    store, key = _stored(b"secret bytes")
    url = storage.presign_for(store, "GET", key)
    assert requests.get(url, timeout=10).content == b"secret bytes"
    other_key = url.replace("a.bin", "b.bin")  # the same signature for another object
    answer = requests.get(other_key, timeout=10)
    assert answer.status_code == 403
    assert "SignatureDoesNotMatch" in answer.text
    signature = url.rsplit("X-Amz-Signature=", 1)[1][:64]
    flipped = url.replace(signature, signature[::-1])
    assert requests.get(flipped, timeout=10).status_code == 403


def test_an_expired_presigned_url_is_refused(s3_storage: Any) -> None:
    store, key = _stored(b"x" * 10)
    url = store.client.generate_presigned_url(
        "get_object", Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=1
    )
    time.sleep(2.1)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 403
    assert "expired" in answer.text.lower()


def test_a_url_signed_for_head_is_refused_for_get(s3_storage: Any) -> None:
    store, key = _stored(b"y" * 10)
    head_url = storage.presign_for(store, "HEAD", key)
    assert requests.head(head_url, timeout=10).status_code == 200
    assert requests.get(head_url, timeout=10).status_code == 403


def test_a_part_damaged_on_the_way_is_refused_and_can_be_sent_again(s3_storage: Any) -> None:
    store = storage.get_store()
    assert isinstance(store, storage.S3Store)
    key = storage.object_key("probe", "big.bin")
    upload_id = store.multipart_create(key)
    body = b"EM" * 1000
    url, headers = store.multipart_presign_part(key, upload_id, 1, _crc32(body))
    damaged = bytearray(body)
    damaged[100] ^= 0xFF
    refused = requests.put(url, data=bytes(damaged), headers=headers, timeout=10)
    assert refused.status_code == 400
    assert "BadDigest" in refused.text
    assert store.multipart_list_parts(key, upload_id) == []  # nothing of it was kept
    sent = requests.put(url, data=body, headers=headers, timeout=10)  # the same URL, again
    assert sent.status_code == 200
    store.multipart_complete(
        key,
        upload_id,
        [{"PartNumber": 1, "ETag": sent.headers["ETag"], "ChecksumCRC32": _crc32(body)}],
    )
    assert store.read(key, 0, len(body)) == body


def test_credentials_without_access_to_the_bucket_fail_with_what_to_fix(
    s3_storage: Any, settings: Any
) -> None:
    call_command("check_storage")  # the fixture's own key: fine
    settings.OPENEM_STORAGE = {
        **settings.OPENEM_STORAGE,
        "access_key": seaweedfs.OUTSIDER_KEY,
        "secret_key": seaweedfs.OUTSIDER_SECRET,
    }
    storage.reset_store_cache()
    with pytest.raises(CommandError) as refused:
        call_command("check_storage")
    message = str(refused.value)
    assert seaweedfs.OUTSIDER_KEY in message
    assert s3_storage.bucket in message
    assert "S3_ACCESS_KEY_ID" in message
    with pytest.raises(storage.AccessDenied, match="no access to bucket"):
        storage.get_store().ensure_bucket()  # not a create_bucket traceback either


def test_a_wrong_secret_or_a_missing_bucket_is_reported_too(s3_storage: Any, settings: Any) -> None:
    base = settings.OPENEM_STORAGE
    settings.OPENEM_STORAGE = {**base, "secret_key": "not-the-secret"}
    storage.reset_store_cache()
    with pytest.raises(CommandError, match="no access to bucket"):
        call_command("check_storage")
    settings.OPENEM_STORAGE = {**base, "bucket": "openem-nowhere"}
    storage.reset_store_cache()
    with pytest.raises(CommandError, match="there is no bucket 'openem-nowhere'"):
        call_command("check_storage")

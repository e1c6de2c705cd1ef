"""A part damaged between the client and S3 (a fault-injecting proxy on loopback flips a byte
of its body) is refused by S3 (BadDigest: its body differs from the CRC32 signed into its URL);
``openem upload`` sends it again and the upload finishes with the right bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import storage
from bench.faultproxy import FaultProxy
from repository.models import DataFile, FileState
from tests.support.cli import local_checksums, sha256_of, stored_sha256

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.services]


@pytest.fixture
def damaging_proxy(s3_storage: Any, settings: Any) -> Iterator[FaultProxy]:
    """Clients reach S3 through the proxy (the URLs the portal presigns name it)."""
    proxy = FaultProxy(s3_storage.endpoint_url).start()
    settings.OPENEM_STORAGE = {**settings.OPENEM_STORAGE, "public_endpoint_url": proxy.endpoint_url}
    storage.reset_store_cache()
    yield proxy
    proxy.stop()
    storage.reset_store_cache()


def test_a_damaged_part_is_sent_again_and_the_upload_finishes(
    cli,
    token_for,
    dataset,
    session_folder,
    damaging_proxy,
    small_parts,
    eager,
):
    damaging_proxy.damage_parts(2)

    result = cli("upload", str(session_folder), "--dataset", dataset.pid, "--wait", "--json",
                 token=token_for("staff"))  # fmt: skip

    assert result.code == 0, result.err
    damaged = [path for method, path, fault in damaging_proxy.applied if fault.damage]
    assert len(damaged) == 2  # two parts were damaged on the way (and refused by S3)
    expected = local_checksums(session_folder)
    files = {f.path: f for f in DataFile.objects.filter(dataset=dataset)}
    assert set(files) == set(expected)
    for path, datafile in files.items():
        assert datafile.state == FileState.READY, (path, datafile.error)
        assert stored_sha256(datafile) == expected[path] == sha256_of(session_folder / path)

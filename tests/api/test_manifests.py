"""Checksum manifests: streamed, `sha256sum -c` compatible, flat in memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import tracemalloc
import uuid
from operator import attrgetter
from pathlib import Path

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.test import APIClient

from repository import manifests, selectors
from repository.models import DataFile, FileState, Visibility
from tests.factories import DatasetFactory
from tests.support.api import bulk_files, error_of

FILES = {
    "Images-Disc1/GridSquare_1/FoilHole_1_Data_2.eer": b"movie one" * 100,
    "Images-Disc1/GridSquare_1/FoilHole_1_Data_3.eer": b"movie two" * 100,
    "Images-Disc1/GridSquare_2/Data 4 (copy).eer": b"a name with spaces",
    "Images-Disc1/\u00e9chantillon.xml": "<xml>\u00e9</xml>".encode(),
    "session.mdoc": b"[ZValue = 0]\n",
}


@pytest.fixture
def dataset(world, store_file):
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)
    for path, content in FILES.items():
        store_file(dataset, path, content)
    return dataset


def _manifest(dataset, **params) -> tuple[StreamingHttpResponse, bytes]:
    response = APIClient().get(f"/api/v1/datasets/{dataset.pid}/manifest", params)
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)  # streamed, never built in memory
    return response, b"".join(response.streaming_content)


def _download_all(dataset, folder: Path) -> None:
    """Lay the files out as a user's download does, through the API."""
    client = APIClient()
    for item in client.get(f"/api/v1/datasets/{dataset.pid}/files/").json()["results"]:
        target = folder / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(client.get(item["download_url"]).streaming_content))


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs GNU coreutils sha256sum")
def test_sha256sum_checks_a_downloaded_dataset(dataset, tmp_path):
    response, body = _manifest(dataset)
    folder = tmp_path / dataset.pid
    _download_all(dataset, folder)
    manifest = tmp_path / f"{dataset.pid}.sha256"
    manifest.write_bytes(body)

    ok = subprocess.run(
        ["sha256sum", "--check", "--strict", str(manifest)],
        cwd=folder,
        capture_output=True,
        text=True,
    )

    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert f'filename="{dataset.pid}.sha256"' in response["Content-Disposition"]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count(": OK") == len(FILES)

    (folder / "session.mdoc").write_bytes(b"[ZValue = 1]\n")  # one file changed
    failed = subprocess.run(
        ["sha256sum", "--check", "--quiet", str(manifest)],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1
    assert "session.mdoc: FAILED" in failed.stdout


def test_sha256sum_lines_are_sorted_and_exact(dataset):
    _response, body = _manifest(dataset)
    expected = "".join(
        f"{hashlib.sha256(FILES[path]).hexdigest()}  {path}\n" for path in sorted(FILES)
    )
    assert body.decode() == expected


def test_json_and_json_lines(dataset):
    array_response, array_body = _manifest(dataset, format="json")
    lines_response, lines_body = _manifest(dataset, format="jsonl")

    entries = json.loads(array_body)
    assert array_response["Content-Type"] == "application/json"
    assert [e["path"] for e in entries] == sorted(FILES)
    assert entries[0] == {
        "path": sorted(FILES)[0],
        "size": len(FILES[sorted(FILES)[0]]),
        "sha256": hashlib.sha256(FILES[sorted(FILES)[0]]).hexdigest(),
    }
    assert lines_response["Content-Type"] == "application/x-ndjson"
    assert [json.loads(line) for line in lines_body.decode().splitlines()] == entries


def test_prefix_narrows_the_manifest(dataset):
    _response, body = _manifest(dataset, prefix="Images-Disc1/GridSquare_1/")
    assert [line.split("  ", 1)[1] for line in body.decode().splitlines()] == [
        "Images-Disc1/GridSquare_1/FoilHole_1_Data_2.eer",
        "Images-Disc1/GridSquare_1/FoilHole_1_Data_3.eer",
    ]


def test_files_without_a_checksum_are_left_out(dataset, store_file):
    pending = store_file(dataset, "late.eer", b"still ingesting", state=FileState.PROCESSING)
    DataFile.objects.filter(pk=pending.pk).update(checksum_sha256="")

    _response, body = _manifest(dataset, format="json")

    assert "late.eer" not in {entry["path"] for entry in json.loads(body)}


def test_empty_manifests_are_valid(world):
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)
    assert _manifest(dataset)[1] == b""
    assert json.loads(_manifest(dataset, format="json")[1]) == []


def test_unknown_format_is_400(dataset):
    response = APIClient().get(f"/api/v1/datasets/{dataset.pid}/manifest", {"format": "md5"})
    assert response.status_code == 400
    assert "format" in error_of(response)["details"]


def test_embargoed_files_have_no_manifest_for_outsiders(world):
    dataset = DatasetFactory(
        facility=world.facility,
        visibility=Visibility.EMBARGOED,
        embargo_until=timezone.localdate() + dt.timedelta(days=10),
    )
    client = APIClient()
    client.force_login(world["stranger"])

    response = client.get(f"/api/v1/datasets/{dataset.pid}/manifest")

    assert response.status_code == 403
    assert "embargo" in error_of(response)["message"]


def test_sha256sum_escapes_names_like_coreutils():
    digest = "0" * 64
    assert manifests.sha256sum_line("a/b.eer", digest) == f"{digest}  a/b.eer\n"
    assert manifests.sha256sum_line("a\\b\nc", digest) == f"\\{digest}  a\\\\b\\nc\n"


def test_generation_is_lazy_and_memory_stays_flat(world):
    """40,000 files (about 4.8 MB of manifest) are produced in ~64 KiB blocks while holding at
    most one block and one chunk of rows: the peak must not grow with the number of files."""
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)
    seed = 625
    DataFile.objects.bulk_create(
        DataFile(
            dataset=dataset,
            path=f"Images-Disc1/GridSquare_{i // 100:03d}/FoilHole_{i:06d}_Data.eer",
            directory=f"Images-Disc1/GridSquare_{i // 100:03d}",
            name=f"FoilHole_{i:06d}_Data.eer",
            size=i,
            storage_key=uuid.uuid4().hex,
            checksum_sha256=hashlib.sha256(str(i).encode()).hexdigest(),
            state=FileState.READY,
        )
        for i in range(seed)
    )
    # Double them in SQL six times (625 -> 40,000 rows): the ORM's per-object cost would make
    # the setup, not the code under test, the slow part. Columns come from the model.
    columns = [f.column for f in DataFile._meta.concrete_fields if not f.primary_key]
    copied = [f"{c} || %s" if c in {"path", "name", "storage_key"} else c for c in columns]
    table = DataFile._meta.db_table
    with connection.cursor() as cursor:
        for generation in range(6):
            suffix = f"-{generation}"
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 - no user input
                f"SELECT {', '.join(copied)} FROM {table} WHERE dataset_id = %s",
                [suffix] * 3 + [dataset.pk],
            )
    count = seed * 2**6
    assert DataFile.objects.filter(dataset=dataset).count() == count

    stream = manifests.manifest_stream(dataset, manifest_format="sha256sum")
    tracemalloc.start()
    try:
        total = lines = 0
        largest_block = 0
        for block in stream:
            total += len(block)
            lines += block.count(b"\n")
            largest_block = max(largest_block, len(block))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert lines == count
    assert total > 4_000_000
    assert largest_block < 2 * manifests.OUTPUT_BLOCK_SIZE
    assert peak < total / 3, f"peak {peak} bytes for {total} bytes of manifest"


def test_rows_are_read_in_keyset_pages_in_the_databases_path_order(
    world, django_assert_num_queries
):
    """Pages along the (dataset, path) index: every row once, in ORDER BY path's order (the
    database's collation, which ``path > last`` follows too), the first after one query."""
    dataset = DatasetFactory(facility=world.facility, visibility=Visibility.PUBLIC)
    paths = ["a b", "A/b", "a-b", "a.b", "a/b", "a/B", "\u00e9t\u00e9/x", "Z", "z", "a/b/c"]
    bulk_files(dataset, paths, checksum_sha256="5" * 64)
    in_order = list(
        DataFile.objects.filter(dataset=dataset)
        .order_by("path")
        .values_list("path", "size", "checksum_sha256", "checksum_md5")
    )

    rows = manifests.manifest_rows(dataset, chunk_size=3)
    with django_assert_num_queries(1):
        first = next(rows)
    with django_assert_num_queries(3):  # pages of 3, 3 and 1 rows: a short page is the last
        rest = list(rows)

    assert [first, *rest] == in_order
    narrowed = list(manifests.manifest_rows(dataset, prefix="a/", chunk_size=2))
    assert narrowed == [row for row in in_order if row[0].startswith("a/")]

    # The URL list and the ZIP read model rows the same way (path from the attribute).
    objects = DataFile.objects.filter(dataset=dataset).order_by("path").only("pk", "path")
    paged = list(selectors.in_path_pages(objects, chunk_size=4, path_of=attrgetter("path")))
    assert [f.path for f in paged] == [row[0] for row in in_order]

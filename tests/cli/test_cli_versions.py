"""``openem download PID --version N``: the files of one published version, as frozen,
verified against that version's checksums, from local storage and from the S3 server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from repository import services, versions
from tests.support.api import stored_file

AUTHORS = [{"given_name": "Ada", "family_name": "Lovelace"}]


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("storage_fixture", ["local_storage", "s3_storage"])
def test_download_a_version_gets_its_frozen_files(
    request: Any, storage_fixture: str, cli: Any, token_for: Any, world: Any, tmp_path: Path
) -> None:
    request.getfixturevalue(storage_fixture)
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin session",
        facility=world.facility,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
    )
    stored_file(dataset, "Images/a.mrc", b"A" * 1000)
    stored_file(dataset, "b.mrc", b"B" * 2000)
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    versions.version_start_draft(actor=world["curator"], dataset=dataset)
    versions.version_draft_remove_files(actor=world["curator"], dataset=dataset, paths=["b.mrc"])
    stored_file(dataset, "c.mrc", b"C" * 3000)
    services.dataset_publish(actor=world["curator"], dataset=dataset)

    v1 = cli("download", dataset.pid, "--version", "1", "--to", str(tmp_path / "v1"), "--json")
    assert v1.code == 0, v1.err
    assert (v1.json()["files"], v1.json()["verified_files"]) == (2, 2)
    assert tree(tmp_path / "v1") == {"Images/a.mrc": b"A" * 1000, "b.mrc": b"B" * 2000}
    latest = cli("download", dataset.pid, "--to", str(tmp_path / "latest"), "--json")
    assert latest.code == 0, latest.err
    assert tree(tmp_path / "latest") == {"Images/a.mrc": b"A" * 1000, "c.mrc": b"C" * 3000}
    again = cli("download", dataset.pid, "--version", "1", "--to", str(tmp_path / "v1"), "--json")
    assert (again.code, again.json()["skipped_files"]) == (0, 2)

    # A damaged local copy is found by the version's own checksum and fetched again.
    (tmp_path / "v1" / "b.mrc").write_bytes(b"X" * 2000)
    repaired = cli("download", dataset.pid, "--version", "1", "--to", str(tmp_path / "v1"))
    assert repaired.code == 0, repaired.err
    assert hashlib.sha256((tmp_path / "v1" / "b.mrc").read_bytes()).hexdigest() == (
        hashlib.sha256(b"B" * 2000).hexdigest()
    )


def test_download_of_a_withdrawn_or_missing_version_says_why(
    cli: Any, token_for: Any, world: Any, tmp_path: Path, local_storage: Any
) -> None:
    dataset = services.dataset_create(
        actor=world["staff"],
        title="Apoferritin session",
        facility=world.facility,
        technique="spa",
        metadata={"organizational": {"authors": AUTHORS}},
    )
    stored_file(dataset, "a.mrc", b"A")
    services.dataset_publish(actor=world["curator"], dataset=dataset)
    missing = cli("download", dataset.pid, "--version", "7", "--to", str(tmp_path / "x"))
    assert missing.code != 0 and "no version 7" in missing.err
    versions.version_withdraw(
        actor=world["curator"], dataset=dataset, number=1, reason="Wrong grid"
    )
    gone = cli("download", dataset.pid, "--version", "1", "--to", str(tmp_path / "y"))
    assert gone.code != 0 and "Wrong grid" in gone.err
    assert not (tmp_path / "y" / "a.mrc").exists()
    bad = cli("download", dataset.pid, "--version", "zero", "--to", str(tmp_path / "z"))
    assert bad.code == 2

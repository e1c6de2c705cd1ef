"""Export packages: a BagIt 1.0 holey bag (fetch.txt of presigned URLs, sha256 manifests from
the stored checksums) fetched from the real S3 server and validated by bagit.py, and RO-Crate
1.2 metadata validated by the rocrate packages; outsiders never get private or embargoed
files."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bagit
import pytest
import requests
from django.test import Client
from rocrate.rocrate import ROCrate
from rocrate_validator import models as rv_models
from rocrate_validator import services as rv_services

from fair import exports
from repository import services, versions
from tests.factories import DataFileFactory
from tests.support.fair import FILES, make_dataset

CRATE_IDS = {quote(path) for path in FILES}  # RO-Crate ids are URI references


def _unzip(content: bytes, into: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
        archive.extractall(into)
    [root] = {name.split("/")[0] for name in names}
    return into / root


def _fetch(bag_dir: Path) -> int:
    """What a BagIt client does with a holey bag: GET every fetch.txt URL into data/."""
    fetched = 0
    for line in (bag_dir / "fetch.txt").read_text().splitlines():
        url, size, name = line.split(None, 2)
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        assert len(response.content) == int(size)
        target = bag_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(response.content)
        fetched += 1
    return fetched


#: roc-validator's two checks that need the network (they download the JSON-LD context); the
#: tests run offline, so it is skipped and the context URL is asserted instead.
NETWORK_CHECKS = ["ro-crate-1.2_4.1", "ro-crate-1.2_4.2"]


def _validate_crate(crate_dir: Path, **extra: Any) -> list[str]:
    """The REQUIRED-level issues roc-validator finds against the RO-Crate 1.2 profile."""
    result = rv_services.validate(
        rv_services.ValidationSettings(
            rocrate_uri=str(crate_dir),
            profile_identifier="ro-crate-1.2",
            requirement_severity=rv_models.Severity.REQUIRED,
            offline=True,
            skip_checks=NETWORK_CHECKS,
            **extra,
        )
    )
    return [f"{issue.check.identifier}: {issue.message}" for issue in result.get_issues()]


@pytest.fixture
def on_s3(world: Any, s3_storage: Any) -> Any:
    dataset = make_dataset(world, files=FILES)
    services.dataset_publish(actor=world["curator"], dataset=dataset, visibility="public")
    return dataset


def test_holey_bag_fetched_from_s3_validates_with_bagit(
    client: Client, on_s3: Any, s3_storage: Any, tmp_path: Path
) -> None:
    response = client.get(f"/datasets/{on_s3.pid}/v/1/bag.zip")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    content = b"".join(response.streaming_content)
    assert len(content) < 20_000  # tag files only: no payload byte passed through the portal
    bag_dir = _unzip(content, tmp_path)
    assert (bag_dir / "bagit.txt").read_text() == (
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    bag = bagit.Bag(str(bag_dir))
    assert bag.version == "1.0"
    assert sorted(bag.files_to_be_fetched()) == sorted(f"data/{p}" for p in FILES)
    assert bag.info["External-Identifier"].endswith(f"/datasets/{on_s3.pid}/v/1/")  # no DOI
    with pytest.raises(bagit.BagValidationError):
        bag.validate()  # holey: the payload is not here yet
    assert _fetch(bag_dir) == 3
    assert all(s3_storage.bucket in line for line in (bag_dir / "fetch.txt").open())
    bagit.Bag(str(bag_dir)).validate()
    cli = Path(sys.executable).parent / "bagit.py"
    done = subprocess.run(
        [str(cli), "--validate", str(bag_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stderr
    # The RO-Crate inside the bag (data/ is the crate's root) validates too, files present.
    assert _validate_crate(bag_dir / "data") == []


def test_manifests_come_from_the_stored_checksums(
    client: Client, on_s3: Any, tmp_path: Path
) -> None:
    v1 = versions.version_latest_published(on_s3)
    versions.version_files(v1).filter(path="gain.mrc").update(checksum_sha256="0" * 64)
    bag_dir = _unzip(
        b"".join(client.get(f"/datasets/{on_s3.pid}/bag.zip").streaming_content), tmp_path
    )
    assert f"{'0' * 64}  data/gain.mrc" in (bag_dir / "manifest-sha256.txt").read_text()
    _fetch(bag_dir)
    with pytest.raises(bagit.BagValidationError, match="gain.mrc"):
        bagit.Bag(str(bag_dir)).validate()  # the stored checksum is what the bag promises


def test_bag_of_a_local_store_fetches_through_signed_portal_links(
    live_server: Any, published: Any, tmp_path: Path
) -> None:
    response = requests.get(live_server.url + f"/datasets/{published.pid}/v/1/bag.zip", timeout=30)
    assert response.status_code == 200
    bag_dir = _unzip(response.content, tmp_path)
    assert "?token=" in (bag_dir / "fetch.txt").read_text()
    _fetch(bag_dir)
    bagit.Bag(str(bag_dir)).validate()
    tampered = live_server.url + f"/datasets/{published.pid}/v/1/files/gain.mrc?token=forged"
    assert requests.get(tampered, timeout=10).status_code == 403


def test_ro_crate_describes_files_instrument_people_and_licence(
    client: Client, published: Any, tmp_path: Path
) -> None:
    response = client.get(f"/datasets/{published.pid}/v/1/ro-crate-metadata.json")
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["@context"] == "https://w3id.org/ro/crate/1.2/context"
    graph = {entity["@id"]: entity for entity in document["@graph"]}
    root = graph["./"]
    assert graph["ro-crate-metadata.json"]["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.2"}
    assert root["license"] == {"@id": "https://creativecommons.org/licenses/by/4.0/"}
    assert {part["@id"] for part in root["hasPart"]} == CRATE_IDS
    assert graph["gain.mrc"]["sha256"] and graph["gain.mrc"]["contentSize"] == "14"
    assert graph["https://orcid.org/0000-0002-1825-0097"]["@type"] == "Person"
    assert graph[root["instrument"]["@id"]]["@type"] == "IndividualProduct"
    assert root["version"] == "1"
    (tmp_path / "ro-crate-metadata.json").write_bytes(response.content)
    crate = ROCrate(str(tmp_path))  # the rocrate package reads it back
    assert crate.name == published.title
    assert {e.id for e in crate.data_entities} == CRATE_IDS
    assert _validate_crate(tmp_path, metadata_only=True) == []


def test_outsiders_never_get_private_or_embargoed_files(
    client: Client, world: Any, local_storage: Any
) -> None:
    private = make_dataset(world, files=FILES)
    embargoed = make_dataset(world, files=FILES)
    services.dataset_publish(
        actor=world["curator"],
        dataset=embargoed,
        visibility="embargoed",
        embargo_until=dt.date.today() + dt.timedelta(days=30),
    )
    for suffix in ("bag.zip", "v/1/bag.zip", "ro-crate-metadata.json", "v/1/files/gain.mrc"):
        assert client.get(f"/datasets/{private.pid}/{suffix}").status_code == 404, suffix
    assert client.get(f"/datasets/{embargoed.pid}/bag.zip").status_code == 403
    assert client.get(f"/datasets/{embargoed.pid}/v/1/files/gain.mrc").status_code == 403
    crate = json.loads(client.get(f"/datasets/{embargoed.pid}/ro-crate-metadata.json").content)
    ids = {entity["@id"] for entity in crate["@graph"]}
    assert not ids & CRATE_IDS
    assert "embargo" in next(e for e in crate["@graph"] if e["@id"] == "./")["conditionsOfAccess"]
    client.force_login(world["staff"])  # an insider gets the bag of the unpublished one? no:
    assert client.get(f"/datasets/{private.pid}/bag.zip").status_code == 404  # no version yet
    assert client.get(f"/datasets/{embargoed.pid}/bag.zip").status_code == 200


def test_withdrawn_drafts_and_unknown_versions(client: Client, world: Any, published: Any) -> None:
    versions.version_start_draft(actor=world["curator"], dataset=published)
    DataFileFactory(dataset=published, path="late.mrc", size=1, checksum_sha256="1" * 64)
    assert client.get(f"/datasets/{published.pid}/v/2/bag.zip").status_code == 404  # draft
    assert client.get(f"/datasets/{published.pid}/v/9/bag.zip").status_code == 404
    services.dataset_publish(actor=world["curator"], dataset=published)
    versions.version_withdraw(
        actor=world["curator"], dataset=published, number=1, reason="Bad grid"
    )
    for suffix in ("v/1/bag.zip", "v/1/ro-crate-metadata.json", "v/1/files/gain.mrc"):
        response = client.get(f"/datasets/{published.pid}/{suffix}")
        assert response.status_code == 410, suffix
    assert client.get(f"/datasets/{published.pid}/v/2/bag.zip").status_code == 200
    versions.version_withdraw(actor=world["curator"], dataset=published, number=2, reason="All bad")
    assert client.get(f"/datasets/{published.pid}/bag.zip").status_code == 410


def test_a_version_still_being_hashed_has_no_bag(client: Client, published: Any) -> None:
    v1 = versions.version_latest_published(published)
    versions.version_files(v1).filter(path="gain.mrc").update(checksum_sha256="")
    response = client.get(f"/datasets/{published.pid}/v/1/bag.zip")
    assert response.status_code == 409
    assert "SHA-256" in response.content.decode()
    assert exports.checksums_missing(v1) == 1


def test_insiders_fetching_private_version_files_are_audited(
    client: Client, world: Any, local_storage: Any
) -> None:
    from repository.models import AuditAction, AuditEvent

    dataset = make_dataset(world, files=FILES)
    services.dataset_publish(actor=world["curator"], dataset=dataset, visibility="public")
    services.dataset_set_visibility(actor=world["curator"], dataset=dataset, visibility="private")
    client.force_login(world["staff"])
    response = client.get(f"/datasets/{dataset.pid}/v/1/files/gain.mrc")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == FILES["gain.mrc"]
    event = AuditEvent.objects.filter(dataset=dataset, action=AuditAction.DOWNLOAD).latest("pk")
    assert event.details["path"] == "gain.mrc"
    client.logout()
    assert client.get(f"/datasets/{dataset.pid}/v/1/files/gain.mrc").status_code == 404

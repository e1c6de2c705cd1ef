"""The deposition workflow: states, who may act, packages in object storage, accession codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

import storage
from deposition import packaging, services
from deposition.models import Deposition, DepositionState, PackageJob
from deposition.thumbnail import entry_thumbnail
from openem.errors import Conflict, NotAllowed, ValidationFailed
from repository.models import AuditAction, AuditEvent, DataFile
from tests.support.personas import PERSONAS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def package_files(deposition: Deposition) -> dict[str, dict[str, Any]]:
    manifest = read_json(deposition.package["manifest_key"])
    return {entry["path"]: entry for entry in manifest["entries"]}


def read_bytes(key: str) -> bytes:
    return b"".join(storage.get_store().iter_chunks(key))


def read_json(key: str) -> Any:
    return json.loads(read_bytes(key))


def package(actor: Any, deposition: Deposition, capture: Any) -> Deposition:
    """Request the package and run the queued task as the worker would, after the commit."""
    with capture(execute=True) as callbacks:
        services.deposition_package_request(actor=actor, deposition=deposition)
    assert len(callbacks) == 1  # enqueued on commit, never before
    deposition.refresh_from_db()
    return deposition


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.usefixtures("schemas")
def test_only_curators_of_the_facility_and_admins_prepare_depositions(world, spa_dataset, persona):
    allowed = persona in ("curator", "admin")
    if allowed:
        deposition = services.deposition_validate(
            actor=world[persona], dataset=spa_dataset, target="empiar"
        )
        assert deposition.state == DepositionState.VALIDATED
    else:
        with pytest.raises(NotAllowed):
            services.deposition_validate(actor=world[persona], dataset=spa_dataset, target="empiar")
        assert not Deposition.objects.exists()


@pytest.mark.usefixtures("schemas")
def test_empiar_from_validation_to_accession(
    world, spa_dataset, django_capture_on_commit_callbacks
):
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    assert deposition.state == DepositionState.VALIDATED
    assert deposition.report["valid"] and deposition.report["provenance"]

    deposition = package(curator, deposition, django_capture_on_commit_callbacks)
    assert deposition.state == DepositionState.PACKAGED, deposition.package_error
    assert deposition.package_prefix.startswith(f"depositions/{spa_dataset.pid}/empiar/")

    files = package_files(deposition)
    for datafile in DataFile.objects.filter(dataset=spa_dataset):
        entry = files[f"data/{datafile.path}"]  # EMPIAR layout: data/<image set dirs>
        assert entry["sha256"] == datafile.checksum_sha256
        assert entry["size"] == datafile.size
        key = f"{deposition.package_prefix}/data/{datafile.path}"
        assert hashlib.sha256(read_bytes(key)).hexdigest() == datafile.checksum_sha256
    document = read_bytes(f"{deposition.package_prefix}/{spa_dataset.pid}-empiar.json")
    assert document.decode() == deposition.document
    assert files[f"{spa_dataset.pid}-empiar.json"]["sha256"] == hashlib.sha256(document).hexdigest()

    thumbnail = read_bytes(deposition.package["thumbnail_key"])
    assert thumbnail.startswith(PNG_MAGIC)
    assert min(Image.open(io.BytesIO(thumbnail)).size) >= 400

    sums = read_bytes(f"{deposition.package_prefix}/manifest-sha256.txt").decode().splitlines()
    assert len(sums) == len(files)
    instructions = read_bytes(f"{deposition.package_prefix}/TRANSFER.txt").decode()
    assert "ascp" in instructions and "globus transfer" in instructions

    deposition = services.deposition_mark_submitted(actor=curator, deposition=deposition)
    assert deposition.state == DepositionState.SUBMITTED
    deposition = services.deposition_record_accession(
        actor=curator, deposition=deposition, accession="empiar-12345 "
    )
    assert (deposition.state, deposition.accession) == (DepositionState.ACCESSIONED, "EMPIAR-12345")
    spa_dataset.refresh_from_db()
    assert spa_dataset.empiar_id == "EMPIAR-12345"
    crossref = AuditEvent.objects.get(
        dataset=spa_dataset, action=AuditAction.DEPOSITION, target_type="repository.dataset"
    )
    assert crossref.details["accession"] == "EMPIAR-12345"
    assert crossref.actor == curator
    steps = list(
        AuditEvent.objects.filter(target_type="deposition.deposition")
        .order_by("created", "pk")
        .values_list("details__step", flat=True)
    )
    assert steps == [
        "validate",
        "package requested",
        "packaged",
        "submitted",
        "accessioned",
    ]


@pytest.mark.usefixtures("emdb_schemas")
def test_emdb_package_has_the_maps_under_their_archive_names(
    world, map_dataset, django_capture_on_commit_callbacks
):
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=map_dataset, target="emdb")
    assert deposition.state == DepositionState.VALIDATED, deposition.report
    deposition = package(curator, deposition, django_capture_on_commit_callbacks)
    files = package_files(deposition)
    assert set(files) == {
        "emd_0000.map",
        "emd_0000_half_map_1.map",
        "emd_0000_half_map_2.map",
        "emd-0000-v30.xml",
        "emd_0000.cif",
        "emd_0000.png",
        "TRANSFER.txt",
    }
    primary = map_dataset.files.get(name="emd_demo.map")
    assert files["emd_0000.map"]["sha256"] == primary.checksum_sha256
    services.deposition_mark_submitted(actor=curator, deposition=deposition)
    services.deposition_record_accession(
        actor=curator, deposition=deposition, accession="EMD-54321"
    )
    map_dataset.refresh_from_db()
    assert map_dataset.emdb_ids == ["EMD-54321"]


@pytest.mark.usefixtures("schemas")
def test_a_document_that_stopped_validating_is_never_packaged(
    world, spa_dataset, django_capture_on_commit_callbacks
):
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    spa_dataset.metadata = {**spa_dataset.metadata, "organizational": {"authors": []}}
    spa_dataset.save(update_fields=["metadata"])
    deposition = package(curator, deposition, django_capture_on_commit_callbacks)
    assert deposition.state == DepositionState.DRAFT
    assert deposition.package_job == PackageJob.FAILED
    assert "no longer validates" in deposition.package_error
    assert not deposition.package_prefix
    assert not deposition.report["valid"]


@pytest.mark.usefixtures("schemas")
def test_an_invalid_document_stays_a_draft_and_cannot_be_packaged(world, ingest, tmp_path):
    from tests.support.deposition import spa_files

    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata={})
    deposition = services.deposition_validate(
        actor=world["admin"], dataset=dataset, target="empiar"
    )
    assert deposition.state == DepositionState.DRAFT
    assert deposition.report["errors"] > 0
    with pytest.raises(Conflict, match="validate it"):
        services.deposition_package_request(actor=world["admin"], deposition=deposition)


@pytest.mark.usefixtures("schemas")
def test_state_rules(world, spa_dataset, django_capture_on_commit_callbacks):
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    with pytest.raises(Conflict):
        services.deposition_mark_submitted(actor=curator, deposition=deposition)
    with pytest.raises(Conflict):
        services.deposition_record_accession(
            actor=curator, deposition=deposition, accession="EMPIAR-12345"
        )
    with django_capture_on_commit_callbacks(execute=False):
        services.deposition_package_request(actor=curator, deposition=deposition)
        with pytest.raises(Conflict, match="already being made"):
            services.deposition_package_request(actor=curator, deposition=deposition)
    assert services.deposition_package_run(deposition.pk) == "packaged"
    assert services.deposition_package_run(deposition.pk) == "skipped"  # a second delivery
    deposition.refresh_from_db()
    services.deposition_mark_submitted(actor=curator, deposition=deposition)
    with pytest.raises(Conflict, match="submitted"):
        services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    with pytest.raises(ValidationFailed, match="not an accession code"):
        services.deposition_record_accession(
            actor=curator, deposition=deposition, accession="EMD-1234"
        )
    services.deposition_reject(actor=curator, deposition=deposition, reason="wrong pixel size")
    deposition.refresh_from_db()
    assert deposition.state == DepositionState.REJECTED
    # A rejected deposition is checked again from the dataset as it is now.
    again = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    assert again.state == DepositionState.VALIDATED


@pytest.mark.usefixtures("schemas")
def test_an_accession_never_silently_replaces_another(world, spa_dataset):
    curator = world["curator"]
    spa_dataset.empiar_id = "EMPIAR-10001"
    spa_dataset.save(update_fields=["empiar_id"])
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    services.deposition_package_request(actor=curator, deposition=deposition)
    services.deposition_package_run(deposition.pk)
    deposition.refresh_from_db()
    services.deposition_mark_submitted(actor=curator, deposition=deposition)
    with pytest.raises(Conflict, match="EMPIAR-10001"):
        services.deposition_record_accession(
            actor=curator, deposition=deposition, accession="EMPIAR-12345"
        )
    spa_dataset.refresh_from_db()
    assert spa_dataset.empiar_id == "EMPIAR-10001"


# --- object storage: S3, server-side copies ---------------------------------------------------------


@pytest.mark.services
@pytest.mark.usefixtures("schemas")
def test_on_s3_the_data_is_copied_inside_the_bucket(
    world, s3_storage, ingest, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.support.deposition import full_metadata, spa_files

    dataset = ingest(files=spa_files(tmp_path), metadata=full_metadata())
    data_keys = set(DataFile.objects.filter(dataset=dataset).values_list("storage_key", flat=True))
    streamed: list[str] = []
    copies: list[tuple[str, str]] = []
    original_iter, original_copy = storage.S3Store.iter_chunks, storage.S3Store.copy

    def spy_iter(self, key, *args, **kwargs):
        streamed.append(key)
        return original_iter(self, key, *args, **kwargs)

    def spy_copy(self, src, dst):
        copies.append((src, dst))
        return original_copy(self, src, dst)

    monkeypatch.setattr(storage.S3Store, "iter_chunks", spy_iter)
    monkeypatch.setattr(storage.S3Store, "copy", spy_copy)
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=dataset, target="empiar")
    deposition = package(curator, deposition, django_capture_on_commit_callbacks)
    assert deposition.state == DepositionState.PACKAGED, deposition.package_error
    assert {src for src, _ in copies} == data_keys
    assert not data_keys & set(streamed)  # no data file was streamed through the process
    store = storage.get_store()
    for src, dst in copies:
        assert store.size(src) == store.size(dst)
        assert dst.startswith(deposition.package_prefix + "/data/")


# --- EMPIAR API: explicit, dry run by default -----------------------------------------------------


@pytest.mark.usefixtures("schemas")
def test_empiar_api_actions_are_dry_runs_unless_asked(
    world, spa_dataset, settings, empiar_replay, django_capture_on_commit_callbacks
):
    replay = empiar_replay("empiar_deposit_and_submit")
    settings.OPENEM_EMPIAR_API_URL = replay.base_url
    settings.OPENEM_EMPIAR_API_TOKEN = "curator-token"
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    with pytest.raises(Conflict, match="package it"):
        services.deposition_empiar_create_entry(actor=curator, deposition=deposition)
    deposition = package(curator, deposition, django_capture_on_commit_callbacks)

    planned = services.deposition_empiar_create_entry(actor=curator, deposition=deposition)
    assert [r.dry_run for r in planned] == [True, True]
    assert replay.received == []
    with pytest.raises(NotAllowed):
        services.deposition_empiar_create_entry(
            actor=world["staff"], deposition=deposition, dry_run=False
        )
    assert replay.received == []

    services.deposition_empiar_create_entry(actor=curator, deposition=deposition, dry_run=False)
    deposition.refresh_from_db()
    assert (deposition.remote_entry_id, deposition.remote_directory) == (101, "DIR_20261124_101")
    sent = replay.received[0].json()
    assert sent == json.loads(deposition.document)
    assert replay.received[1].path.endswith("/image_upload/")
    assert deposition.state == DepositionState.PACKAGED  # creating an entry is not submitting

    services.deposition_empiar_submit(actor=curator, deposition=deposition)  # dry run
    assert [r.path for r in replay.received][-1].endswith("/image_upload/")
    result = services.deposition_empiar_submit(actor=curator, deposition=deposition, dry_run=False)
    deposition.refresh_from_db()
    assert result.accession == "EMPIAR-10001"
    assert (deposition.state, deposition.accession) == (DepositionState.SUBMITTED, "EMPIAR-10001")
    spa_dataset.refresh_from_db()
    assert spa_dataset.empiar_id == ""  # written back only when a curator records it
    services.deposition_record_accession(
        actor=curator, deposition=deposition, accession=deposition.accession
    )
    spa_dataset.refresh_from_db()
    assert spa_dataset.empiar_id == "EMPIAR-10001"


@pytest.mark.usefixtures("schemas")
def test_an_empiar_refusal_is_a_clear_error_and_changes_nothing(
    world, spa_dataset, settings, empiar_replay, django_capture_on_commit_callbacks
):
    replay = empiar_replay("empiar_refusals")
    settings.OPENEM_EMPIAR_API_URL = replay.base_url
    settings.OPENEM_EMPIAR_API_TOKEN = "expired"
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    deposition = package(curator, deposition, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationFailed, match="Invalid token"):
        services.deposition_empiar_create_entry(actor=curator, deposition=deposition, dry_run=False)
    deposition.refresh_from_db()
    assert deposition.remote_entry_id is None and deposition.state == DepositionState.PACKAGED


# --- the entry thumbnail --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".eer", ".mrc", ".tiff", ".mrcs"])
def test_entry_thumbnails_are_pngs_of_at_least_400_pixels(spa_dataset, suffix):
    datafile = DataFile.objects.filter(dataset=spa_dataset, name__endswith=suffix).first()
    picture = entry_thumbnail(datafile)
    assert picture.png is not None, picture.source
    assert picture.png.startswith(PNG_MAGIC)
    image = Image.open(io.BytesIO(picture.png))
    assert image.format == "PNG" and min(image.size) >= 400
    assert datafile.path in picture.source
    assert np.asarray(image).std() > 0  # a picture, not a blank square


def test_no_thumbnail_without_an_image_says_why():
    picture = entry_thumbnail(None)
    assert picture.png is None and "no image" in picture.source


# ---------------------------------------------------------------------------------------------
# Runs that died: their partial copies go, and a run presumed dead cannot record its package


@pytest.mark.usefixtures("schemas")
def test_a_new_run_deletes_what_a_dead_run_copied_and_keeps_finished_packages(
    world, spa_dataset, django_capture_on_commit_callbacks
):
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    deposition = package(curator, deposition, django_capture_on_commit_callbacks)
    finished = deposition.package_prefix
    store = storage.get_store()
    # A worker killed mid-copy in a later run: data copies and no manifest.
    dead = f"{packaging.package_namespace(deposition)}20260101T000000"
    datafile = DataFile.objects.filter(dataset=spa_dataset).first()
    for n in range(3):
        store.copy(datafile.storage_key, f"{dead}/data/{n}/{datafile.path}")
    other_deposition_key = f"depositions/{spa_dataset.pid}/empiar/{deposition.pk}0-x/data/a.eer"
    store.put(other_deposition_key, b"another deposition's package")

    deposition = package(curator, deposition, django_capture_on_commit_callbacks)

    assert deposition.state == DepositionState.PACKAGED, deposition.package_error
    assert deposition.package_prefix not in (finished, dead)
    assert list(store.list_keys(f"{dead}/")) == []
    assert store.exists(f"{finished}/manifest.json")  # a finished package is never touched
    assert store.exists(other_deposition_key)
    runs = {key.split("/")[3] for key in store.list_keys(packaging.package_namespace(deposition))}
    assert runs == {finished.split("/")[3], deposition.package_prefix.split("/")[3]}
    discarded = AuditEvent.objects.get(details__step="partial package discarded")
    assert discarded.details["objects"] == 3


@pytest.mark.usefixtures("schemas")
def test_a_run_presumed_dead_cannot_record_its_package_over_its_successor(
    world, spa_dataset, django_capture_on_commit_callbacks, monkeypatch
):
    """Its worker was only slow: the reconciler requeued the job and another worker claimed it.
    When the slow one finishes, the job is no longer its own: nothing it made is recorded."""
    curator = world["curator"]
    deposition = services.deposition_validate(actor=curator, dataset=spa_dataset, target="empiar")
    with django_capture_on_commit_callbacks(execute=False):
        services.deposition_package_request(actor=curator, deposition=deposition)
    successor_claim = {"done": False}
    original = packaging.build_package

    def slow_then_replaced(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not successor_claim["done"]:  # the reconciler and a second worker, meanwhile
            successor_claim["done"] = True
            Deposition.objects.filter(pk=deposition.pk).update(
                package_job=PackageJob.RUNNING,
                package_job_started_at=timezone.now() + dt.timedelta(seconds=5),
            )
        return result

    monkeypatch.setattr(packaging, "build_package", slow_then_replaced)
    assert services.deposition_package_run(deposition.pk) == "superseded"
    deposition.refresh_from_db()
    assert deposition.state == DepositionState.VALIDATED and deposition.package_prefix == ""
    assert deposition.package_job == PackageJob.RUNNING  # the successor's, untouched

"""Settling a dataset: derived OSC-EM metadata, where each value came from, validation, and
values a person entered surviving a re-derivation."""

from __future__ import annotations

import io

import pytest

from demo.seed import mdoc_text
from ingest.services import dataset_aggregate_metadata, dataset_settle_if_done
from ingest.uploads import datafile_store_stream, upload_session_create
from repository.models import Dataset, DatasetStatus
from repository.services import dataset_create


@pytest.fixture
def tomo_dataset(world, local_storage, django_capture_on_commit_callbacks):
    dataset = dataset_create(
        actor=world["staff"],
        title="Tilt series",
        facility=world.facility,
        technique="cellular_tomo",
    )
    session = upload_session_create(actor=world["staff"], dataset=dataset)
    for name in ("TS_01", "TS_02"):
        data = mdoc_text(f"{name}.mrc", tilts=5)
        # The test's transaction never commits: run the enqueued (eager) ingest explicitly.
        with django_capture_on_commit_callbacks(execute=True):
            datafile_store_stream(
                actor=world["staff"],
                session=session,
                path=f"{name}/{name}.mrc.mdoc",
                stream=io.BytesIO(data),
                size=len(data),
            )
    dataset.refresh_from_db()
    return dataset


def test_settled_dataset_has_derived_metadata_provenance_and_a_validation_record(tomo_dataset):
    dataset = tomo_dataset  # eager tasks: the files were ingested when stored
    assert dataset.status == DatasetStatus.READY
    metadata = dataset.metadata
    assert metadata["acquisition"]["technique"] == "cellular_tomo"
    assert metadata["instrument"]["acceleration_voltage"]["value"] == pytest.approx(300)
    provenance = metadata["_provenance"]
    assert provenance["instrument.acceleration_voltage"] == {
        "file": "TS_01/TS_01.mrc.mdoc and 1 more",
        "source": "mdoc",
    }
    record = dataset.metadata_validation
    assert record["schema"].startswith("oscem-cellular_tomo") or "cellular" in record["schema"]
    assert isinstance(record["valid"], bool) and isinstance(record["problems"], list)
    # An mdoc cannot know the electron source: the curator is told what is missing.
    assert any(
        "electron_source" in p["path"] or "electron_source" in p["message"]
        for p in record["problems"]
    )
    assert dataset.metadata_schema is not None


def test_entered_values_win_over_a_new_derivation_and_lose_their_provenance(tomo_dataset):
    dataset = tomo_dataset
    metadata = dict(dataset.metadata)
    metadata["instrument"] = {
        **metadata["instrument"],
        "acceleration_voltage": {"value": 200.0, "unit": "kV"},
    }
    metadata["sample"] = {"name": "C. reinhardtii"}
    Dataset.objects.filter(pk=dataset.pk).update(metadata=metadata)
    dataset.refresh_from_db()

    dataset_aggregate_metadata(dataset)

    assert dataset.metadata["instrument"]["acceleration_voltage"]["value"] == 200.0
    assert dataset.metadata["sample"] == {"name": "C. reinhardtii"}
    assert "instrument.acceleration_voltage" not in dataset.metadata["_provenance"]
    assert "acquisition.technique" in dataset.metadata["_provenance"]


def test_a_dataset_with_files_still_moving_does_not_settle(world, local_storage):
    dataset = dataset_create(
        actor=world["staff"], title="Moving", facility=world.facility, technique="spa"
    )
    session = upload_session_create(actor=world["staff"], dataset=dataset)
    from ingest.uploads import upload_session_register_files

    upload_session_register_files(
        actor=world["staff"], session=session, entries=[{"path": "a.mrc", "size": 10}]
    )
    assert dataset_settle_if_done(dataset.pk) is False
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.DRAFT
    assert dataset.metadata_validation == {}


def test_without_a_registered_schema_the_dataset_still_settles_and_says_why(
    world, local_storage, django_capture_on_commit_callbacks
):
    from metadata.models import MetadataSchema

    MetadataSchema.objects.all().delete()
    dataset = dataset_create(
        actor=world["staff"], title="No schema", facility=world.facility, technique="spa"
    )
    session = upload_session_create(actor=world["staff"], dataset=dataset)
    data = mdoc_text("TS_09.mrc", tilts=3)
    with django_capture_on_commit_callbacks(execute=True):
        datafile_store_stream(
            actor=world["staff"],
            session=session,
            path="TS_09.mrc.mdoc",
            stream=io.BytesIO(data),
            size=len(data),
        )
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY
    assert dataset.metadata_validation["valid"] is False
    assert "load_builtin_schemas" in dataset.metadata_validation["problems"][0]["message"]

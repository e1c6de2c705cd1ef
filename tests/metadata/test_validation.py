"""Validation: every problem with its path, the declared draft, units; and the dataset services
that record results and change metadata."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from metadata import selectors
from metadata.builtin import builtin_document
from metadata.identifiers import identifier_warnings
from metadata.models import MetadataSchema
from metadata.registry import schema_register, schema_set_status
from metadata.units import quantity
from metadata.validation import Problem, validate_metadata
from openem.errors import NotAllowed, ValidationFailed
from repository.dataset_metadata import dataset_update_metadata, dataset_validate_metadata
from repository.models import AuditAction, AuditEvent, DatasetStatus, Technique, Visibility
from tests.factories import DatasetFactory

AUTHOR = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@example.org",
    "type_org": "Academic",
    "orcid": "0000-0002-1825-0097",
}


def spa_document() -> dict[str, Any]:
    return {
        "acquisition": {
            "technique": "spa",
            "date_time": "2024-01-01T12:00:00Z",
            "detectors": [{"name": "Falcon 4i"}],
            "binning_camera": {"width": 1, "height": 1},
            "pixel_size": {"value": 0.83, "unit": "Å"},
            "dose_per_movie": {"value": 40, "unit": "e/Å^2"},
        },
        "instrument": {
            "microscope": {"model": "Titan Krios G4"},
            "electron_source": "XFEG",
            "illumination": "FloodBeam",
            "imaging": "Brightfield",
            "acceleration_voltage": {"value": 300, "unit": "kV"},
        },
        "organizational": {"authors": [dict(AUTHOR)]},
        "processing": {"movies": {"dose_per_image": {"value": 1.2, "unit": "e/Å^2"}}},
    }


def _paths(problems: list[Problem]) -> list[str]:
    return [p.path for p in problems]


def test_a_valid_document_has_no_problems():
    assert validate_metadata(spa_document(), builtin_document("spa")) == []


def test_text_the_database_cannot_store_is_a_problem_at_its_path():
    document = spa_document()
    document["organizational"]["authors"][0]["name_org"] = "Basel\x00"
    document["sample"] = {"overall_molecule": {"name_sample": "apo\ud800"}, "x\x00": 1}
    problems = validate_metadata(document, builtin_document("spa"))
    text = [p for p in problems if "invalid" in p.message or "NUL" in p.message]
    assert _paths(text) == [
        "organizational.authors[0].name_org",
        "sample",
        "sample.overall_molecule.name_sample",
    ]
    assert "'x\\x00'" in text[1].message  # the name is shown escaped


def test_every_problem_is_reported_with_its_path():
    document = spa_document()
    del document["acquisition"]["pixel_size"]
    document["acquisition"]["technique"] = "subtomo"
    document["acquisition"]["binning_camera"]["width"] = "one"
    document["acquisition"]["date_time"] = "2024-01-01T12:00:00"  # no time zone
    document["acquisition"]["colour"] = "blue"
    document["organizational"]["authors"].append({**AUTHOR, "orcid": "123", "type_org": "Guild"})
    document["instrument"]["cs"] = {"value": 2.7}
    problems = validate_metadata(document, builtin_document("spa"))
    assert _paths(problems) == [
        "acquisition.binning_camera.width",
        "acquisition.colour",
        "acquisition.date_time",
        "acquisition.pixel_size",
        "acquisition.technique",
        "instrument.cs.unit",
        "organizational.authors[1].type_org",
    ]  # the ORCID "123" is a warning (metadata.identifiers), not a problem
    messages = {p.path: p.message for p in problems}
    assert messages["acquisition.pixel_size"] == "'pixel_size' is required"
    assert messages["acquisition.colour"] == "'colour' is not a field of this schema"
    assert messages["acquisition.technique"] == "must be 'spa', not 'subtomo'"
    [warning] = identifier_warnings(document)
    assert warning.path == "organizational.authors[1].orcid"
    assert "is not an ORCID iD" in warning.message
    assert messages["organizational.authors[1].type_org"] == (
        "'Guild' is not one of 'Academic', 'Commercial', 'Government', 'Other'"
    )
    assert "time zone" in messages["acquisition.date_time"]


def test_optional_parts_of_generated_schemas_report_the_inner_problem(official_spa):
    """OSC-EM's generated schemas write optional fields as anyOf [X, null]; the problem is
    reported inside X, not as "not valid under any of the given schemas"."""
    document = spa_document()
    document["instrument"]["cs"] = {"value": "2.7", "unit": "mm"}
    assert validate_metadata(document, official_spa) == [
        Problem("instrument.cs.value", "'2.7' is not of type 'number'")
    ]


@pytest.fixture
def official_spa(settings: Any) -> dict[str, Any]:
    import json
    from pathlib import Path

    path = Path(settings.OPENEM_SCHEMAS_DIR) / "oscem" / "oscem_schemas_spa.schema.json"
    if not path.is_file():
        pytest.skip(f"official OSC-EM schemas not found at {path} (set OPENEM_SCHEMAS_DIR)")
    return json.loads(path.read_text())


def test_the_draft_the_schema_declares_is_used():
    draft4 = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "properties": {"x": {"maximum": 5, "exclusiveMaximum": True}},
    }
    assert _paths(validate_metadata({"x": 5}, draft4)) == ["x"]
    draft7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "dependentRequired": {"a": ["b"]},  # a 2019-09 keyword: ignored by draft 7
    }
    assert validate_metadata({"a": 1}, draft7) == []
    draft2019 = {**draft7, "$schema": "https://json-schema.org/draft/2019-09/schema"}
    assert _paths(validate_metadata({"a": 1}, draft2019)) == [""]


def test_unknown_units_are_errors_wherever_a_quantity_sits():
    document = spa_document()
    document["acquisition"]["dose_per_movie"]["unit"] = "xyz"
    document["processing"]["movies"]["descriptors"] = [
        {"descriptor_name": "alignment", "descriptor_thing": {"shift": {"value": 3, "unit": "qq"}}}
    ]
    problems = validate_metadata(document, builtin_document("spa"))
    assert problems == [
        Problem(
            "acquisition.dose_per_movie.unit", "unknown unit 'xyz' at acquisition.dose_per_movie"
        ),
        Problem(
            "processing.movies.descriptors[0].descriptor_thing.shift.unit",
            "unknown unit 'qq' at processing.movies.descriptors[0].descriptor_thing.shift",
        ),
    ]


def test_units_must_fit_the_field_and_em_spellings_are_accepted():
    document = spa_document()
    document["acquisition"]["pixel_size"]["unit"] = "kV"
    document["acquisition"]["exposure_time"] = {"value": 2, "unit": "ms"}
    document["instrument"]["c2_aperture"] = {"value": 50, "unit": "um"}
    document["sample"] = {
        "overall_molecule": {"name_sample": "x", "source": "y"},
        "specimen": {"humidity": {"value": 95, "unit": "%"}},
    }
    document["organizational"]["grants"] = [{"budget": {"value": 1e5, "unit": "CHF"}}]
    assert validate_metadata(document, builtin_document("spa")) == [
        Problem("acquisition.pixel_size.unit", "'kV' is not a unit for pixel size (use Å, nm, pm)")
    ]
    document["organizational"]["grants"][0]["budget"]["unit"] = "francs"
    assert _paths(validate_metadata(document, builtin_document("spa")))[-1] == (
        "organizational.grants[0].budget.unit"
    )


# ---------------------------------------------------------------------------------------------
# Which schema a dataset uses


@pytest.mark.parametrize(
    ("technique", "schema_name"),
    [
        (Technique.SPA, "spa"),
        (Technique.SUBTOMO, "subtomo"),
        (Technique.CELLULAR_TOMO, "cellular_tomo"),
        (Technique.ENV_TOMO, "env_tomo"),
        (Technique.TOMOGRAPHY, "cellular_tomo"),
        (Technique.MICROED, "general"),
        (Technique.OTHER, "general"),
    ],
)
def test_each_technique_has_an_active_builtin_schema(db, technique, schema_name):
    schema = selectors.schema_for_technique(technique)
    assert schema is not None and schema.builtin
    assert schema.name == schema_name


def test_a_dataset_stays_on_its_version_until_it_is_deprecated(db):
    dataset = DatasetFactory(technique=Technique.SPA)
    old = selectors.schema_for_technique(Technique.SPA)
    dataset_validate_metadata(dataset)
    newer, _ = schema_register(
        name="spa", version="9.0.0", document=builtin_document("spa"), builtin=True
    )
    assert selectors.schema_for_dataset(dataset) == old
    schema_set_status(schema=old, status="deprecated")
    dataset.refresh_from_db()
    assert selectors.schema_for_dataset(dataset) == newer


# ---------------------------------------------------------------------------------------------
# Services


@pytest.fixture
def dataset(world: Any) -> Any:
    return DatasetFactory(
        facility=world.facility,
        project=world.project,
        owner=world["staff"],
        status=DatasetStatus.READY,
        visibility=Visibility.PRIVATE,
        metadata={
            "acquisition": {"pixel_size": quantity(0.1, "nm")},
            "_provenance": {"acquisition.pixel_size": {"file": "x.xml"}},
        },
    )


def test_validate_records_the_result_and_the_schema(dataset):
    record = dataset_validate_metadata(dataset)
    dataset.refresh_from_db()
    assert dataset.metadata_validation == record
    assert record["valid"] is False
    assert record["schema"] == f"spa {dataset.metadata_schema.version}"
    assert {"path": "instrument", "message": "'instrument' is required"} in record["problems"]
    # the portal's own keys are not part of the OSC-EM document
    assert all(not p["path"].startswith("_") for p in record["problems"])
    assert record["checked_at"]


@pytest.mark.parametrize("persona", ["staff", "member", "curator", "admin"])
def test_update_stores_si_values_records_validity_and_audits(world, dataset, persona):
    dataset_update_metadata(actor=world[persona], dataset=dataset, metadata=spa_document())
    dataset.refresh_from_db()
    assert dataset.metadata["instrument"]["acceleration_voltage"] == {
        "value": 300,
        "unit": "kV",
        "valueSI": 300000.0,
        "unitSI": "V",
    }
    assert dataset.metadata["acquisition"]["dose_per_movie"]["unitSI"] == "1/m^2"
    # QuantityValue fields have no SI slots in OSC-EM: none are added
    assert dataset.metadata["processing"]["movies"]["dose_per_image"] == {
        "value": 1.2,
        "unit": "e/Å^2",
    }
    assert dataset.metadata["_provenance"] == {"acquisition.pixel_size": {"file": "x.xml"}}
    assert dataset.metadata_validation["valid"] is True
    assert dataset.metadata_schema == MetadataSchema.objects.get(name="spa", builtin=True)
    event = AuditEvent.objects.get(dataset=dataset, action=AuditAction.UPDATE)
    assert event.actor == world[persona]
    assert "instrument.acceleration_voltage.value" in event.details["changed"]


def test_invalid_metadata_raises_with_every_problem_and_stores_nothing(world, dataset):
    before = copy.deepcopy(dataset.metadata)
    document = spa_document()
    document["acquisition"]["pixel_size"]["unit"] = "xyz"
    del document["instrument"]["imaging"]
    with pytest.raises(ValidationFailed) as caught:
        dataset_update_metadata(actor=world["staff"], dataset=dataset, metadata=document)
    assert caught.value.details == [
        {
            "path": "acquisition.pixel_size.unit",
            "message": "unknown unit 'xyz' at acquisition.pixel_size",
        },
        {"path": "instrument.imaging", "message": "'imaging' is required"},
    ]
    assert "2 problems" in caught.value.message
    dataset.refresh_from_db()
    assert dataset.metadata == before
    assert dataset.metadata_validation == {}
    assert not AuditEvent.objects.filter(dataset=dataset, action=AuditAction.UPDATE).exists()


@pytest.mark.parametrize("persona", ["anonymous", "stranger", "other_staff"])
def test_outsiders_may_not_update(world, dataset, persona):
    before = copy.deepcopy(dataset.metadata)
    with pytest.raises(NotAllowed):
        dataset_update_metadata(actor=world[persona], dataset=dataset, metadata=spa_document())
    dataset.refresh_from_db()
    assert dataset.metadata == before

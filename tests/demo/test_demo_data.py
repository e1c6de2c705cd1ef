"""The demo data of `make run` is a showcase: acquisition metadata from the files' own headers,
every dataset valid against its schema, and the README's pixel-size searches find them."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from demo import seed as demo
from metadata.selectors import schema_for_dataset
from metadata.validation import oscem_document, validate_metadata
from repository.models import Dataset


@pytest.fixture
def demo_data(transactional_db, local_storage):
    call_command("load_builtin_schemas", verbosity=0)
    demo.load_demo(stdout=lambda _line: None)


@pytest.mark.usefixtures("demo_data")
def test_demo_datasets_take_their_acquisition_metadata_from_their_headers():
    spa = Dataset.objects.get(title__startswith="Mouse apoferritin")
    acquisition = spa.metadata["acquisition"]
    # the EER's own XML: 0.76 Å, 40 frames, 40 e/Å², 2.5 s (the MRC says 0.83 Å: EER first)
    assert acquisition["pixel_size"]["value"] == 0.76
    assert acquisition["pixel_size"]["valueSI"] == pytest.approx(7.6e-11)
    assert acquisition["frames_per_movie"] == 40
    assert acquisition["image_size"] == {"width": 512, "height": 512}
    provenance = spa.metadata["_provenance"]["acquisition.pixel_size"]
    assert provenance["source"] == "header" and provenance["file"].endswith("_EER.eer")
    emdb_map = Dataset.objects.get(kind="map")
    assert emdb_map.metadata["acquisition"]["pixel_size"]["value"] == 1.06  # the voxel size
    private = Dataset.objects.get(title__startswith="Unpublished")
    assert private.metadata["acquisition"]["pixel_size"]["value"] == 1.1


@pytest.mark.usefixtures("demo_data")
def test_every_demo_dataset_validates_against_its_schema():
    for dataset in Dataset.objects.all():
        schema = schema_for_dataset(dataset)
        assert schema is not None
        problems = validate_metadata(oscem_document(dataset.metadata), schema)
        assert problems == [], (dataset.title, problems)


@pytest.mark.usefixtures("demo_data")
def test_the_readme_pixel_size_searches_find_the_demo_datasets():
    client = Client()
    found = client.get(
        "/api/v1/datasets/", {"metadata": "acquisition.pixel_size=0.08..0.12 nm"}
    ).json()
    assert {d["title"] for d in found["results"]} == {"Apoferritin 2.1 A map (demo)"}
    found = client.get("/api/v1/datasets/", {"q": "apoferritin", "pixel_size_max": "1.2"}).json()
    assert {d["title"] for d in found["results"]} == {
        "Mouse apoferritin, Falcon 4i EER session (demo)",
        "Apoferritin 2.1 A map (demo)",
    }

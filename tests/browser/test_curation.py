"""Curators in a real browser: the metadata form of a dataset ingested from real EPU files."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from ingest.uploads import datafile_store_stream, upload_session_complete
from metadata import registry
from repository.models import Dataset, DatasetStatus
from tests.ingest.test_pipeline import epu_sample_files, new_dataset, new_session

from .conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def epu_dataset(world: Any) -> Dataset:
    """A single-particle dataset holding the two real EPU XML files, through the pipeline."""
    registry.schema_load_builtins()  # a transactional test starts with empty tables
    dataset = new_dataset(world, technique="spa", title="Apoferritin, real EPU session")
    session = new_session(world, dataset)
    for path in epu_sample_files():  # ingested in-process once each upload commits
        data = path.read_bytes()
        datafile_store_stream(
            actor=world["staff"],
            session=session,
            path=f"Images-Disc1/GridSquare_1/Data/{path.name}",
            stream=io.BytesIO(data),
            size=len(data),
        )
    upload_session_complete(actor=world["staff"], session=session)
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY
    assert "pixel_size" in dataset.metadata["acquisition"]
    return dataset


def test_curator_edits_the_pixel_size_of_a_real_epu_dataset_at_the_first_try(
    page: Any, world: Any, epu_dataset: Dataset
) -> None:
    log_in(page, "curator")
    page.goto(epu_dataset.get_absolute_url() + "metadata/edit")
    # the extracted values are there, rounded for reading, in units as people write them
    pixel = page.locator('input[name="acquisition.pixel_size.value"]')
    assert pixel.input_value() == "0.415015"
    unit = page.locator('select[name="acquisition.pixel_size.unit"]')
    assert unit.locator("option:checked").inner_text() == "Å"
    shift_unit = page.locator('select[name="acquisition.imageshift.x_min.unit"]')
    assert shift_unit.locator("option:checked").inner_text() == "µm"
    # beam shift (an angle) is left empty: EPU's shift in µm is the image shift
    assert page.locator('input[name="acquisition.beamshift.x_min.value"]').input_value() == ""
    screenshot(page, "20-metadata-form-epu")

    pixel.fill("0.83")
    page.locator(".actions button[name=_save]").click()
    page.wait_for_url(re.compile(re.escape(epu_dataset.get_absolute_url()) + "$"))
    message = page.locator(".messages").inner_text()
    assert "Metadata saved" in message, message
    screenshot(page, "21-metadata-saved-epu")

    epu_dataset.refresh_from_db()
    metadata = epu_dataset.metadata
    assert metadata["acquisition"]["pixel_size"]["value"] == 0.83
    assert metadata["_provenance"]["acquisition.pixel_size"]["edited"] is True
    # the values nobody touched are stored as they were extracted, unrounded
    shift = metadata["acquisition"]["imageshift"]["x_min"]
    assert shift["unit"] == "um" and shift["value"] == pytest.approx(-0.0263405106961727)
    assert "beamshift" not in metadata["acquisition"]
    # what the instrument files cannot know is a to-do, not a reason to refuse the save
    problems = {p["path"] for p in epu_dataset.metadata_validation["problems"]}
    assert not any(path.endswith(".unit") for path in problems), problems
    assert page.js_errors == []

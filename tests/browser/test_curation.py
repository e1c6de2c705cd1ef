"""Curators in a real browser: the metadata form of a dataset ingested from real EPU files."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest

from ingest.uploads import datafile_store_stream, upload_session_complete
from metadata import registry
from repository.models import Dataset, DatasetStatus
from tests.support.browser import log_in, screenshot
from tests.support.pipeline import epu_sample_files, new_dataset, new_session

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
    # groups are collapsed unless something in them needs doing; a click opens one
    image_shift = page.locator('details[data-group="acquisition.imageshift"]')
    assert image_shift.get_attribute("open") is None
    image_shift.locator("> summary").click()
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


def test_metadata_form_is_grouped_and_names_each_file_once(
    page: Any, world: Any, epu_dataset: Dataset
) -> None:
    """Item 8 of issue 18: the form was 11,600 px tall, named the EPU file in capitals on
    every line and showed raw floats."""
    log_in(page, "curator")
    page.goto(epu_dataset.get_absolute_url() + "metadata/edit")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 5000, f"the form is {height} px tall"
    screenshot(page, "22-metadata-form-collapsed")
    # nested groups fold; the sections (sample, instrument, acquisition...) stay open
    assert page.locator("details.md-group").count() >= 8
    assert page.locator("details.md-group:not([open])").count() >= 5
    # provenance once per group, in the case it is written in
    notes = page.locator("[data-source]").all_inner_texts()
    assert 1 <= len(notes) <= 2, notes  # instrument and acquisition: the same two XML files
    assert page.locator(".md-field [data-source]").count() == 0  # never on a single line
    assert all("FoilHole_" in note for note in notes), notes
    transform = page.locator("[data-source]").first.evaluate(
        "element => getComputedStyle(element).textTransform"
    )
    assert transform == "none"
    # a group's summary says how much of it is filled
    acquisition = page.locator('details[data-group="acquisition"] > summary [data-count]')
    assert re.fullmatch(r"\d+ of \d+ filled", acquisition.inner_text())
    # a link to a field opens the groups around it (as the deposition page's "Fix" links do)
    page.goto(epu_dataset.get_absolute_url() + "metadata/edit#f-acquisition-imageshift-x_min")
    shift = page.locator("#f-acquisition-imageshift-x_min")
    assert shift.is_visible()
    assert shift.input_value() == "-0.0263405"
    assert page.js_errors == []

"""The EMPIAR deposition JSON built from ingested files and the dataset's metadata."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from deposition.documents import build_document
from deposition.empiar.imagesets import directory_pattern
from deposition.empiar.validation import validate_empiar
from tests.support.deposition import (
    ORGANIZATIONAL,
    full_metadata,
    map_files,
    mrc_file,
    noise,
    spa_files,
)


def imagesets_by_format(document: dict) -> dict[str, dict]:
    return {imageset["header_format"]: imageset for imageset in document["imagesets"]}


def issues_at(built, prefix: str, severity: str = "error") -> list:
    return [i for i in built.report.issues if i.path.startswith(prefix) and i.severity == severity]


@pytest.mark.usefixtures("schemas")
def test_spa_session_with_eer_tiff_and_mrc_movies_validates(spa_dataset):
    built = build_document(spa_dataset, "empiar")
    assert built.valid, built.report.as_text()
    document = json.loads(built.content)
    assert validate_empiar(document) == []  # the official schema and the strict checks
    assert document["title"] == spa_dataset.title
    assert document["cross_references"] == [{"name": "EMD-12345"}]
    assert document["authors"][0] == {
        "name": "('Curator', 'C')",
        "order_id": 0,
        "author_orcid": "0000-0002-1825-0097",
    }
    assert document["authors"][1]["name"] == "('Müller', 'JM')"
    assert document["corresponding_author"]["country"] == "CH"
    assert document["principal_investigator"][0]["last_name"] == "Curator"


@pytest.mark.usefixtures("schemas")
def test_image_sets_are_derived_from_the_files(spa_dataset):
    document = json.loads(build_document(spa_dataset, "empiar").content)
    sets = imagesets_by_format(document)
    assert set(sets) == {"('T9', '')", "('T3', '')", "('T2', '')", "('T1', '')"}

    eer = sets["('T9', '')"]
    # Two grid squares, one image set: numbered folders are one directory.
    assert eer["directory"] == "/data/Images-Disc1"
    assert (
        eer["micrographs_file_pattern"] == "/data/Images-Disc1/GridSquare_*/Data/FoilHole_*_EER.eer"
    )
    assert eer["category"] == "('T2', '')"
    assert eer["data_format"] == "('T9', '')"
    assert eer["voxel_type"] == "('T9', '')"  # EER: 4 BIT INTEGER, see deposition/vocab.py
    assert (eer["num_images_or_tilt_series"], eer["frames_per_image"]) == (2, 8)
    assert (eer["image_width"], eer["image_height"]) == (512, 512)
    assert eer["pixel_width"] == pytest.approx(0.76)  # EER metadata, metres -> Å

    tiff = sets["('T3', '')"]
    assert (tiff["category"], tiff["voxel_type"], tiff["frames_per_image"]) == (
        "('T2', '')",
        "('T1', '')",  # uint8
        6,
    )
    assert tiff["pixel_width"] is None  # TIFF headers carry none, and the metadata gives none

    mrcs = sets["('T2', '')"]
    assert (mrcs["category"], mrcs["voxel_type"], mrcs["frames_per_image"]) == (
        "('T2', '')",
        "('T4', '')",  # MRC mode 1
        5,
    )
    assert (mrcs["image_width"], mrcs["image_height"]) == (240, 200)

    micrograph = sets["('T1', '')"]
    assert (micrograph["category"], micrograph["voxel_type"]) == ("('T1', '')", "('T7', '')")
    assert micrograph["pixel_width"] == 0.83
    assert micrograph["directory"] == "/data/Micrographs"


@pytest.mark.usefixtures("schemas")
def test_every_filled_value_names_its_source(spa_dataset):
    built = build_document(spa_dataset, "empiar")
    sources = {entry.path: entry.source for entry in built.report.provenance}
    eer_index = next(
        i
        for i, s in enumerate(json.loads(built.content)["imagesets"])
        if s["header_format"] == "('T9', '')"
    )
    assert "EER" in sources[f"$.imagesets[{eer_index}].voxel_type"]
    assert ".eer" in sources[f"$.imagesets[{eer_index}].pixel_width"]
    assert sources["$.authors[0]"] == "metadata organizational.authors[0]"


@pytest.mark.usefixtures("schemas")
def test_a_pixel_size_entered_in_the_metadata_fills_tiff_image_sets(ingest, tmp_path):
    metadata = full_metadata()
    metadata["acquisition"]["pixel_size"] = {"value": 0.074, "unit": "nm"}
    dataset = ingest(files=spa_files(tmp_path)[2:3], metadata=metadata)
    built = build_document(dataset, "empiar")
    [tiff] = json.loads(built.content)["imagesets"]
    assert tiff["pixel_width"] == pytest.approx(0.74)
    sources = {e.path: e.source for e in built.report.provenance}
    assert "acquisition.pixel_size" in sources["$.imagesets[0].pixel_width"]


@pytest.mark.usefixtures("schemas")
def test_tomography_session_validates_with_tilt_series(tomo_dataset):
    built = build_document(tomo_dataset, "empiar")
    assert built.valid, built.report.as_text()
    document = json.loads(built.content)
    [tilts] = document["imagesets"]
    assert tilts["category"] == "('T9', '')"
    assert tilts["directory"] == "/data"
    assert tilts["micrographs_file_pattern"] == "/data/TS_*/TS_*.mrc"
    assert (tilts["num_images_or_tilt_series"], tilts["frames_per_image"]) == (2, 11)
    assert tilts["voxel_type"] == "('T4', '')"
    assert tilts["pixel_width"] == 2.68
    assert document["scale"] == "3"  # cellular tomography: cells


@pytest.mark.usefixtures("schemas")
def test_missing_metadata_is_reported_with_links_to_the_form(ingest, tmp_path):
    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata={})
    built = build_document(dataset, "empiar")
    assert not built.valid
    by_path = {i.path: i for i in built.report.errors}
    assert "$.authors" in by_path
    assert by_path["$.authors"].fix_url == (
        f"/datasets/{dataset.pid}/metadata/edit#f-organizational-authors"
    )
    assert "$.corresponding_author" in by_path
    assert "$.principal_investigator" in by_path
    # The schema's own complaints are linked too (longest hinted prefix).
    schema_errors = [i for i in built.report.errors if i.source == "schema"]
    assert schema_errors and all(i.fix_url for i in schema_errors)


@pytest.mark.usefixtures("schemas")
def test_a_missing_affiliation_and_country_point_to_that_author(ingest, tmp_path):
    organizational = copy.deepcopy(ORGANIZATIONAL)
    organizational["authors"][0]["name_org"] = ""
    organizational["authors"][0]["country"] = "UK"
    organizational["authors"][0]["orcid"] = "0000-0002-1825-0098"
    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata={"organizational": organizational})
    built = build_document(dataset, "empiar")
    assert not built.valid
    fixes = {i.path: i.fix_url for i in built.report.errors}
    base = f"/datasets/{dataset.pid}/metadata/edit#f-organizational-authors-0"
    assert fixes["$.corresponding_author.organization"] == f"{base}-name_org"
    assert fixes["$.corresponding_author.country"] == f"{base}-country"
    assert fixes["$.authors[0].author_orcid"] == f"{base}-orcid"
    assert any("'GB'" in i.message for i in built.report.errors)


@pytest.mark.usefixtures("schemas")
def test_inconsistent_pixel_sizes_in_one_image_set_are_an_error(ingest, tmp_path):
    files = [
        (f"Micrographs/mic_{i}.mrc", mrc_file(noise((128, 128), seed=i), size, tmp=tmp_path))
        for i, size in enumerate([0.83, 0.83, 1.1])
    ]
    dataset = ingest(files=files, metadata=full_metadata())
    built = build_document(dataset, "empiar")
    assert not built.valid
    [issue] = issues_at(built, "$.imagesets[0].pixel_width")
    assert "inconsistent pixel sizes" in issue.message
    assert "0.83" in issue.message and "1.1" in issue.message
    assert "Micrographs/mic_2.mrc" in issue.message


@pytest.mark.usefixtures("schemas")
def test_non_ascii_and_over_long_names(ingest, tmp_path):
    long_folder = "a" * 200
    files = [
        ("Mäuse/mic_1.mrc", mrc_file(noise((64, 64)), 1.0, tmp=tmp_path)),
        (f"{long_folder}/mic_1.mrc", mrc_file(noise((64, 64)), 1.0, tmp=tmp_path)),
    ]
    dataset = ingest(files=files, metadata=full_metadata(), title="x" * 280)
    built = build_document(dataset, "empiar")
    assert not built.valid
    messages = " ".join(i.message for i in built.report.errors)
    assert "ASCII" in messages and "Mäuse/mic_1.mrc" in messages
    assert "at most 200" in messages
    [title] = issues_at(built, "$.title")
    assert "at most 255" in title.message


@pytest.mark.usefixtures("schemas")
def test_files_still_being_ingested_block_the_deposition(ingest, tmp_path):
    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata=full_metadata(), process=False)
    built = build_document(dataset, "empiar")
    assert not built.valid
    assert any("still being ingested" in i.message for i in built.report.errors)


@pytest.mark.usefixtures("schemas")
def test_a_map_dataset_gives_a_reconstructed_volume_image_set(ingest, tmp_path):
    dataset = ingest(files=map_files(tmp_path, halves=False), kind="map", metadata=full_metadata())
    document = json.loads(build_document(dataset, "empiar").content)
    [volume] = document["imagesets"]
    assert volume["category"] == "('T13', '')"
    assert volume["voxel_type"] == "('T7', '')"


@pytest.mark.usefixtures("schemas")
def test_an_mrc_mode_without_empiar_code_is_written_as_other(ingest, tmp_path):
    dataset = ingest(
        files=[("Micrographs/m.mrc", mrc_file(noise((64, 64), np.float16), 1.0, tmp=tmp_path))],
        metadata=full_metadata(),
    )
    document = json.loads(build_document(dataset, "empiar").content)
    assert document["imagesets"][0]["voxel_type"] == "('OT', '16 BIT FLOAT')"


def test_directory_pattern():
    assert directory_pattern("Images-Disc1/GridSquare_12/Data") == "Images-Disc#/GridSquare_#/Data"
    assert directory_pattern("") == ""

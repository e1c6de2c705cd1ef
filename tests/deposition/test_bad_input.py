"""Bad input never crashes a build and never gives a valid document: odd headers, odd metadata."""

from __future__ import annotations

import pytest

from deposition.documents import build_document
from repository.models import FileState
from tests.factories import DataFileFactory, DatasetFactory
from tests.support.deposition import full_metadata

ODD_HEADERS = [
    ("mrc", {}),
    ("mrc", {"nx": "wide", "ny": None, "nz": [1], "mode": [2]}),
    (
        "mrc",
        {
            "nx": 64,
            "ny": 64,
            "nz": 40,
            "mode": {"x": 1},
            "data_kind": "volume",
            "voxel_size": 5,
            "cella": [],
            "cellb": "x",
            "acquisition": ["not", "a", "dict"],
            "mapc": 1,
            "mapr": 1,
            "maps": 1,
            "nxstart": "a",
        },
    ),
    (
        "mrc",
        {
            "nx": 64,
            "ny": 64,
            "nz": 40,
            "mode": 2,
            "data_kind": "volume",
            "voxel_size": {"x": {"value": 0}, "y": None, "z": "1"},
            "cella": {"x": {"value": "big"}},
            "mapc": 3,
            "mapr": 2,
            "maps": 1,
        },
    ),
    ("tiff", {"width": 100, "height": 100, "pages": "many", "dtype": ["uint8"]}),
    ("eer", {"width": 4096, "height": 4096, "frames": None, "acquisition": {"pixel_size": 3}}),
    ("eer", {"width": 4096, "height": 4096, "frames": -5}),
    ("mdoc", {"sidecar": "mdoc", "sections": "none"}),
]


@pytest.mark.usefixtures("emdb_schemas")
@pytest.mark.parametrize("target", ["empiar", "emdb", "mmcif"])
def test_odd_headers_and_metadata_give_reports_not_crashes(db, target):
    metadata = full_metadata()
    metadata["organizational"]["authors"].append("not an author")
    metadata["organizational"]["authors"][0]["country"] = 42
    metadata["instrument"]["acceleration_voltage"] = {"value": "high", "unit": "kV"}
    metadata["acquisition"]["nominal_defocus"] = {"minimal": {"value": -1, "unit": "parsec"}}
    metadata["sample"]["molecule"] = "one"
    dataset = DatasetFactory(metadata=metadata, kind="map")
    for index, (fmt, header) in enumerate(ODD_HEADERS):
        DataFileFactory(
            dataset=dataset,
            path=f"odd/file_{index}.{fmt}",
            format=fmt,
            header=header,
            state=FileState.READY,
        )
    built = build_document(dataset, target)
    if target != "mmcif":
        assert not built.valid
    assert built.report.errors or built.report.warnings
    assert built.content  # a document is still written, and reported as what it is


@pytest.mark.usefixtures("schemas")
def test_eer_files_without_a_frame_count_are_reported(db):
    dataset = DatasetFactory(metadata=full_metadata())
    DataFileFactory(
        dataset=dataset,
        path="Data/movie.eer",
        format="eer",
        header={"width": 4096, "height": 4096, "frames": None},
        state=FileState.READY,
    )
    built = build_document(dataset, "empiar")
    assert not built.valid
    assert any("no frame count" in i.message for i in built.report.errors)

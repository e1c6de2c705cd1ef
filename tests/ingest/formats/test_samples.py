"""Conformance on the real sample files (OPENEM_SAMPLES_DIR, default ``<repo>/../shared/samples``);
skipped, with the reason, when they are not there. Values are cross-checked against mrcfile."""

from __future__ import annotations

import mrcfile
import pytest

from ingest.formats import FileFormat, detect_format, extract
from ingest.thumbnails import render_thumbnail
from storage import FileSource


def q(value, unit, rel=1e-6):
    return {"value": pytest.approx(value, rel=rel), "unit": unit}


def test_emdb_map_and_its_compressed_copies(samples_dir):
    results = {
        name: extract(FileSource(samples_dir / "mrc" / name), name)
        for name in ("EMD-3197.map", "emd_3197.map.gz", "EMD-3197.map.bz2")
    }
    plain = results["EMD-3197.map"]
    assert [r.format for r in results.values()] == [
        FileFormat.MRC,
        FileFormat.MRC_GZ,
        FileFormat.MRC_BZ2,
    ]
    assert all(r.errors == [] and r.warnings == [] for r in results.values())
    header = plain.header
    assert (header["nx"], header["ny"], header["nz"], header["mode"], header["ispg"]) == (
        20,
        20,
        20,
        2,
        1,
    )
    assert header["voxel_size"] == {"x": q(11.4, "A"), "y": q(11.4, "A"), "z": q(11.4, "A")}
    assert header["labels"] == ["::::EMDATABANK.org::::EMD-3197::::"]
    assert header["data_kind"] == "volume"
    with mrcfile.open(samples_dir / "mrc" / "EMD-3197.map", header_only=True) as reference:
        assert header["voxel_size"]["x"]["value"] == pytest.approx(float(reference.voxel_size.x))
        assert header["dmean"] == pytest.approx(float(reference.header.dmean))
        assert header["nxstart"] == int(reference.header.nxstart)
    for result in results.values():
        for key in ("nx", "ny", "nz", "voxel_size", "dmin", "dmax", "dmean", "rms", "labels"):
            assert result.header[key] == header[key], key


def test_epu_micrograph_with_fei2_header(samples_dir):
    path = samples_dir / "mrc" / "epu2.9_example.mrc"
    source = FileSource(path)
    result = extract(source, path.name)
    header, acquisition = result.header, result.header["acquisition"]
    assert (result.format, result.errors, result.warnings) == (FileFormat.MRC, [], [])
    assert (header["nx"], header["ny"], header["nz"], header["mode"], header["dtype"]) == (
        4096,
        4096,
        1,
        6,
        "uint16",
    )
    assert header["voxel_size"]["x"] == q(0.66655135, "A") and header["voxel_size"]["z"] is None
    assert header["extended_header"] == {
        "type": "FEI2",
        "metadata_version": 2,
        "record_size": 888,
        "records": 1024,
    }
    assert acquisition["voltage"] == q(300.0, "kV")
    assert acquisition["dose"] == q(41.171287, "e/A^2")
    assert acquisition["pixel_size"] == {"x": q(0.666551328, "A"), "y": q(0.666551328, "A")}
    assert acquisition["defocus"] == q(1815.1545, "nm")
    assert acquisition["applied_defocus"] == q(-2200.0, "nm")
    assert acquisition["exposure_time"] == q(12.207756, "s")
    assert (acquisition["detector"], acquisition["microscope"]) == ("BM-Falcon", "TITAN52337720")
    assert (acquisition["software"], acquisition["timestamp"]) == (
        "EPU 2.9.0.1519",
        "2020-11-03T17:36:04",
    )
    assert acquisition["magnification"] == 120000.0
    with mrcfile.open(path, header_only=True) as reference:
        first = reference.indexed_extended_header[0]
        assert acquisition["voltage"]["value"] == float(first["HT"]) / 1000
        assert acquisition["dose"]["value"] == pytest.approx(float(first["Dose"]) / 1e20)
        assert acquisition["pixel_size"]["x"]["value"] == pytest.approx(
            float(first["Pixel size X"]) * 1e10
        )
    assert (source.stats.requests, source.stats.bytes_read) == (1, 64 * 1024)


def test_epu_micrograph_thumbnail_reads_one_section(samples_dir):
    path = samples_dir / "mrc" / "epu2.9_example.mrc"
    result = extract(FileSource(path), path.name)
    source = FileSource(path)
    thumbnail = render_thumbnail(source, result)
    assert (thumbnail.width, thumbnail.height, thumbnail.png[:8]) == (
        512,
        512,
        b"\x89PNG\r\n\x1a\n",
    )
    assert (source.stats.requests, source.stats.bytes_read) == (1, 4096 * 4096 * 2)


def test_header_only_copy_is_truncated(samples_dir):
    path = samples_dir / "mrc" / "epu2.9_example.header-only.mrc"
    result = extract(FileSource(path), path.name)
    assert result.format == FileFormat.MRC
    assert result.errors == [
        "truncated: expected 34464768 bytes, found 910336 (the header promises 33554432 more bytes than the file holds)"
    ]
    assert result.header["acquisition"]["voltage"] == q(300.0, "kV")
    assert result.thumbnail_plan is None


def test_sidecars_are_detected(samples_dir):
    for path in sorted((samples_dir / "epu").glob("FoilHole_*.xml")):
        assert detect_format(FileSource(path), path.name) == FileFormat.EPU_XML
    for path in sorted((samples_dir / "mdoc").glob("*.mdoc")):
        assert detect_format(FileSource(path), path.name) == FileFormat.MDOC
    for path in sorted(samples_dir.glob("*/expected_*.json")):
        assert detect_format(FileSource(path), path.name) == FileFormat.OTHER

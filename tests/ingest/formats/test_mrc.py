"""MRC headers: values from synthetic mrcfile files, FEI/SERI extended headers, size checks,
and the request budget (one cached read however large the file)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from ingest.formats import FileFormat, extract, mrc
from storage import RangedFile


def q(value, unit):
    return {"value": pytest.approx(value, rel=1e-6), "unit": unit}


def test_volume_header_values(counting, make):
    data = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    raw = make.mrc(
        data, voxel_size=(1.5, 2.0, 2.5), origin=(10.0, 20.0, 30.0), label="made by the tests"
    )
    result = extract(counting(raw), "vol.map")
    header = result.header
    assert (result.format, result.errors, result.warnings) == (FileFormat.MRC, [], [])
    assert (header["nx"], header["ny"], header["nz"], header["mode"], header["dtype"]) == (
        4,
        5,
        6,
        2,
        "float32",
    )
    assert header["voxel_size"] == {"x": q(1.5, "A"), "y": q(2.0, "A"), "z": q(2.5, "A")}
    assert header["cella"] == {"x": q(6.0, "A"), "y": q(10.0, "A"), "z": q(15.0, "A")}
    assert header["origin"] == {"x": q(10.0, "A"), "y": q(20.0, "A"), "z": q(30.0, "A")}
    assert (header["mx"], header["my"], header["mz"], header["ispg"]) == (4, 5, 6, 1)
    assert (header["mapc"], header["mapr"], header["maps"], header["nversion"]) == (1, 2, 3, 20141)
    assert (header["dmin"], header["dmax"]) == (0.0, 119.0)
    assert header["dmean"] == pytest.approx(59.5)
    assert header["rms"] == pytest.approx(float(data.std()))
    assert header["labels"][-1] == "made by the tests"
    assert (header["data_kind"], header["byte_order"], header["expected_size"]) == (
        "volume",
        "little",
        len(raw),
    )
    assert (header["nsymbt"], header["exttyp"], header["extended_header"]) == (0, None, None)
    json.dumps(result.to_dict())  # the whole result is JSON-serialisable


def test_big_endian_map(counting, make):
    raw = make.mrc(np.ones((3, 4, 5), dtype=">i2"), voxel_size=3.0)
    header = extract(counting(raw), "be.mrc").header
    assert (header["byte_order"], header["nx"], header["nz"], header["dtype"]) == (
        "big",
        5,
        3,
        "int16",
    )
    assert header["voxel_size"]["x"] == q(3.0, "A")


def test_unset_cell_means_unknown_voxel_size(counting, make):
    header = extract(counting(make.mrc(np.zeros((4, 4), np.float32))), "a.mrc").header
    assert header["voxel_size"] == {"x": None, "y": None, "z": None}
    assert header["data_kind"] == "image"


def test_unknown_statistics_are_null(counting, make):
    raw = make.mrc(
        np.zeros((4, 4), np.float32), header={"dmin": 1.0, "dmax": 0.0, "dmean": -1.0, "rms": -1.0}
    )
    header = extract(counting(raw), "a.mrc").header
    assert (header["dmin"], header["dmax"], header["dmean"], header["rms"]) == (
        None,
        None,
        None,
        None,
    )


def test_stack_kinds_and_mrcs(counting, make):
    stack = make.mrc(np.zeros((7, 4, 4), np.float32), stack=True)
    result = extract(counting(stack), "particles.mrcs")
    assert (result.format, result.header["data_kind"], result.header["nz"]) == (
        FileFormat.MRCS,
        "image_stack",
        7,
    )
    volume_stack = make.mrc(np.zeros((2, 3, 4, 4), np.float32))
    header = extract(counting(volume_stack), "vs.mrc").header
    assert (header["data_kind"], header["nz"], header["mz"], header["ispg"]) == (
        "volume_stack",
        6,
        3,
        401,
    )


def test_fei2_first_record(counting, make):
    records = make.fei_records(
        b"FEI2",
        16,
        **{
            "HT": 200000.0,
            "Dose": 5.0e21,
            "Pixel size X": 1.1e-10,
            "Pixel size Y": 1.2e-10,
            "Defocus": -1.5e-6,
            "Applied defocus": -1.4e-6,
            "Integration time": 2.5,
            "Camera name": b"BM-Falcon",
            "Detector commercial name": b"Falcon 4i",
            "Microscope type": b"TITAN52337720",
            "Application": b"EPU",
            "Application version": b"3.6.0",
            "Timestamp": 44138.5,
            "Alpha tilt": 30.0,
            "X-Stage": 1.5e-4,
            "Magnification": 130000.0,
            "Binning Width": 2,
            "Binning Height": 2,
        },
    )
    records[1]["HT"] = 300000.0  # only the first record is read
    raw = make.mrc(np.zeros((16, 8, 8), np.uint16), stack=True, extended=records, exttyp=b"FEI2")
    result = extract(counting(raw), "movie.mrc")
    acquisition = result.header["acquisition"]
    assert result.errors == []
    assert result.header["extended_header"] == {
        "type": "FEI2",
        "metadata_version": 2,
        "record_size": 888,
        "records": 16,
    }
    assert acquisition["voltage"] == q(200.0, "kV")
    assert acquisition["dose"] == q(50.0, "e/A^2")
    assert acquisition["pixel_size"] == {"x": q(1.1, "A"), "y": q(1.2, "A")}
    assert acquisition["defocus"] == q(-1500.0, "nm")
    assert acquisition["applied_defocus"] == q(-1400.0, "nm")
    assert acquisition["exposure_time"] == q(2.5, "s")
    assert acquisition["tilt_angle"] == q(30.0, "deg")
    assert acquisition["stage_position"]["x"] == q(150.0, "um")
    assert (acquisition["magnification"], acquisition["binning"]) == (130000.0, {"x": 2, "y": 2})
    assert (acquisition["detector"], acquisition["detector_model"]) == ("BM-Falcon", "Falcon 4i")
    assert (acquisition["microscope"], acquisition["software"]) == ("TITAN52337720", "EPU 3.6.0")
    assert acquisition["timestamp"] == "2020-11-03T12:00:00"


def test_fei1_and_unset_values_are_left_out(counting, make):
    records = make.fei_records(b"FEI1", 1, **{"HT": 300000.0})
    raw = make.mrc(np.zeros((8, 8), np.float32), extended=records, exttyp=b"FEI1")
    result = extract(counting(raw), "a.mrc")
    acquisition = result.header["acquisition"]
    assert result.header["extended_header"]["type"] == "FEI1"
    assert acquisition["voltage"] == q(300.0, "kV")
    assert (
        "dose" not in acquisition
        and "pixel_size" not in acquisition
        and "exposure_time" not in acquisition
    )


def test_fei_record_with_wrong_declared_size_is_a_warning(counting, make):
    records = make.fei_records(b"FEI2", 1, **{"HT": 300000.0})
    records["Metadata size"] = 100
    raw = make.mrc(np.zeros((8, 8), np.float32), extended=records, exttyp=b"FEI2")
    result = extract(counting(raw), "a.mrc")
    assert result.errors == []
    assert any("declares 100 bytes" in warning for warning in result.warnings)
    assert result.header["acquisition"] == {}


def test_seri_first_tilt_angle(counting, make):
    sections = 3
    ext = b"".join(struct.pack("<h", int(angle * 100)) + bytes(30) for angle in (-60.0, 0.0, 60.0))
    raw = bytearray(
        make.mrc(np.zeros((sections, 8, 8), np.int16), stack=True, extended=ext, exttyp=b"SERI")
    )
    struct.pack_into("<hh", raw, 128, 32, 1)  # nint = 32 bytes per section, nreal = tilt angles
    result = extract(counting(bytes(raw)), "ts.st")
    assert result.header["extended_header"] == {
        "type": "SERI",
        "bytes_per_section": 32,
        "flags": 1,
        "sections": 3,
    }
    assert result.header["acquisition"]["tilt_angle"] == q(-60.0, "deg")


def test_mode_101_size_uses_packed_padded_rows(counting, make):
    raw = make.patch_header(make.mrc(np.zeros((3, 5), np.int8)), mode=101)
    raw = raw[:1024] + bytes(3 * 3)  # 5 pixels -> 3 bytes per row, 3 rows
    result = extract(counting(raw), "packed.mrc")
    assert (result.header["dtype"], result.header["expected_size"], result.errors) == (
        "uint4",
        1033,
        [],
    )


def test_trailing_bytes_are_a_warning(counting, make):
    raw = make.mrc(np.zeros((4, 4), np.float32)) + b"\0" * 10
    result = extract(counting(raw), "a.mrc")
    assert result.errors == []
    assert result.warnings == ["trailing bytes: expected 1088 bytes, found 1098 (10 extra)"]


@pytest.mark.parametrize("codec", ["gzip", "bzip2"])
def test_compressed_map_header_equals_uncompressed(counting, make, codec):
    raw = make.mrc(np.random.default_rng(0).random((10, 12, 14), dtype=np.float32), voxel_size=1.25)
    compressed = make.gzip(raw) if codec == "gzip" else make.bzip2(raw)
    plain = extract(counting(raw), "a.map")
    packed = extract(counting(compressed), "a.map.gz")
    assert packed.format == (FileFormat.MRC_GZ if codec == "gzip" else FileFormat.MRC_BZ2)
    assert packed.errors == []
    assert packed.header["compression"] == codec
    for key in ("nx", "ny", "nz", "mode", "voxel_size", "dmin", "dmax", "expected_size", "labels"):
        assert packed.header[key] == plain.header[key], key


def test_large_compressed_map_reads_only_a_prefix_and_the_trailer(counting, make):
    raw = make.mrc(np.random.default_rng(2).random((64, 128, 128), dtype=np.float32))
    source = counting(make.gzip(raw))
    assert source.size > 2 * 1024 * 1024
    result = extract(source, "big.map.gz")
    assert result.errors == []
    assert source.stats.requests == 2  # the head, and the (block containing the) gzip trailer
    assert source.stats.bytes_read <= 2 * 64 * 1024


def test_header_of_a_50_gib_movie_costs_one_request(counting, make):
    """FEI2 with 1024 records (909 kB) in front of 50 GiB of frames: only the first record."""
    records = make.fei_records(b"FEI2", 1024, **{"HT": 300000.0})
    raw = make.mrc(np.zeros((1, 4, 4), np.uint16), extended=records, exttyp=b"FEI2")
    nz, ny, nx = 1600, 4096, 4096
    header = make.patch_header(raw, nx=nx, ny=ny, nz=nz, mx=nx)
    size = 1024 + records.nbytes + nx * ny * nz * 2
    source = counting(header[: 1024 + records.nbytes], size=size)
    result = extract(source, "movie.mrc")
    assert (result.errors, result.header["acquisition"]["voltage"]) == ([], q(300.0, "kV"))
    assert result.header["expected_size"] == size
    assert (source.stats.requests, source.stats.bytes_read) == (1, 64 * 1024)


def test_never_writes_back(counting, make, monkeypatch):
    """mrcfile writes the header back on close() unless read-only: make any write fail loudly."""
    writes = []
    monkeypatch.setattr(RangedFile, "write", lambda self, *args: writes.append(args) or 0)
    raw = make.mrc(np.zeros((4, 4), np.float32), voxel_size=1.0)
    source = counting(raw)
    result = extract(source, "a.mrc")
    assert (writes, result.errors, source.prefix) == ([], [], raw)


def test_row_bytes_per_mode():
    assert [mrc.row_bytes(mode, 5) for mode in (0, 1, 2, 3, 4, 6, 12, 101)] == [
        5,
        10,
        20,
        20,
        40,
        10,
        10,
        3,
    ]
    assert mrc.row_bytes(17, 5) is None

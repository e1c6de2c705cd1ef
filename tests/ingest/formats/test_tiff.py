"""TIFF headers via tifffile: first-page geometry and tags, page counts only when cheap."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.formats import FileFormat, extract, tiff


def test_first_page_geometry_and_tags(counting, make):
    raw = make.tiff(
        np.zeros((3, 40, 60), np.uint16),
        photometric="minisblack",
        compression="zlib",
        software="EPU 3.6",
        datetime="2024:09:01 06:01:08",
        description="Falcon 4i gain-normalised sum",
        metadata=None,
    )
    result = extract(counting(raw), "sum.tif")
    header = result.header
    assert (result.format, result.errors) == (FileFormat.TIFF, [])
    assert (header["width"], header["height"], header["dtype"]) == (60, 40, "uint16")
    assert (header["compression"], header["compression_code"]) == ("adobe_deflate", 8)
    assert (header["bits_per_sample"], header["samples_per_pixel"], header["photometric"]) == (
        16,
        1,
        "minisblack",
    )
    assert (header["software"], header["datetime"]) == ("EPU 3.6", "2024-09-01T06:01:08")
    assert header["description"] == "Falcon 4i gain-normalised sum"
    assert (header["pages"], header["pages_source"]) == (3, "counted")
    assert (header["bigtiff"], header["byte_order"], header["tiled"]) == (False, "little", False)


def test_rgb_bigtiff_big_endian_tiled(counting, make):
    raw = make.tiff(
        np.zeros((64, 48, 3), np.uint8),
        photometric="rgb",
        bigtiff=True,
        byteorder=">",
        tile=(16, 16),
    )
    header = extract(counting(raw), "overview.tiff").header
    assert (header["samples_per_pixel"], header["photometric"], header["bigtiff"]) == (
        3,
        "rgb",
        True,
    )
    assert (header["byte_order"], header["tiled"], header["width"], header["height"]) == (
        "big",
        True,
        48,
        64,
    )


def test_gain_reference_by_name(counting, make):
    result = extract(counting(make.tiff(np.ones((16, 16), np.float32))), "CountRef_gain.tiff")
    assert (result.format, result.header["container"], result.header["dtype"]) == (
        FileFormat.GAIN_REF,
        "tiff",
        "float32",
    )


@pytest.mark.parametrize(
    ("writer", "expected_source"), [("imagej", "imagej"), ("shaped", "shaped")]
)
def test_large_file_page_count_from_description_without_walking(
    counting, make, writer, expected_source
):
    data = np.zeros((60, 256, 256), np.uint16)  # 7.5 MiB, 60 IFDs
    raw = make.tiff(data, imagej=True) if writer == "imagej" else make.tiff(data)
    source = counting(raw)
    result = extract(source, "stack.tif")
    assert (result.header["pages"], result.header["pages_source"]) == (60, expected_source)
    assert source.stats.requests <= 2
    assert source.stats.bytes_read <= 1024 * 1024


def test_large_file_without_description_has_unknown_page_count(counting, make):
    source = counting(make.tiff(np.zeros((60, 256, 256), np.uint16), metadata=None))
    result = extract(source, "stack.tif")
    assert (result.header["pages"], result.header["pages_source"], result.errors) == (
        None,
        None,
        [],
    )
    assert (source.stats.requests, source.stats.bytes_read) == (1, 64 * 1024)


def test_small_file_pages_are_counted_in_one_request(counting, make):
    source = counting(make.tiff(np.zeros((20, 32, 32), np.uint8), metadata=None))
    result = extract(source, "small.tif")
    assert (result.header["pages"], source.stats.requests) == (20, 1)


def test_header_at_the_end_of_a_big_file_costs_two_requests(counting, make):
    """Some writers put the IFD after the pixels: one request for the head, one for the IFD."""
    pixels = np.arange(1024 * 1024, dtype=np.uint16).reshape(1024, 1024)
    raw = bytearray(make.tiff(pixels, metadata=None))
    first_ifd = int.from_bytes(raw[4:8], "little")
    assert first_ifd < 64 * 1024  # tifffile writes it first: move it to the end
    ifd_size = 2 + 12 * int.from_bytes(raw[first_ifd : first_ifd + 2], "little") + 4
    moved = bytes(raw) + bytes(raw[first_ifd : first_ifd + ifd_size])
    moved = moved[:4] + len(raw).to_bytes(4, "little") + moved[8:]
    source = counting(moved)
    result = extract(source, "late.tif")
    assert (result.header["width"], result.header["height"], result.errors) == (1024, 1024, [])
    assert source.stats.requests == 2
    assert source.stats.bytes_read <= 1024 * 1024


def test_tiff_extract_direct_rejects_non_tiff(counting):
    result = tiff.extract(counting(b"not a tiff at all"), "x.tif")
    assert result.errors == ["TIFF header: no TIFF header (II*\\0, MM\\0*, or BigTIFF II+\\0)"]

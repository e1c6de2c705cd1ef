"""Detection by magic bytes and structure; the file name is only a hint."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.formats import FileFormat, detect, detect_format

EPU_XML = (
    b'<MicroscopeImage xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects" '
    b'xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><name>Empty</name></MicroscopeImage>'
)
MDOC = b"PixelSpacing = 2.66\r\nVoltage = 300\r\nImageFile = TS_41.mrc\r\n\r\n[ZValue = 0]\r\nTiltAngle = -66.9\r\n"


@pytest.fixture
def image_mrc(make) -> bytes:
    return make.mrc(np.zeros((16, 16), np.float32), voxel_size=1.0)


@pytest.fixture
def stack_mrc(make) -> bytes:
    return make.mrc(np.zeros((3, 16, 16), np.int16), stack=True)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("image.mrc", FileFormat.MRC),
        ("image.map", FileFormat.MRC),
        ("image.MRCS", FileFormat.MRCS),
        ("renamed.tif", FileFormat.MRC),  # bytes win over the extension
        ("", FileFormat.MRC),
        ("GainRef.mrc", FileFormat.GAIN_REF),
    ],
)
def test_mrc_by_map_identifier(counting, image_mrc, name, expected):
    assert detect_format(counting(image_mrc), name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("movie.mrc", FileFormat.MRC),
        ("particles.mrcs", FileFormat.MRCS),
        ("tilts.st", FileFormat.MRCS),
    ],
)
def test_image_stacks_are_mrcs_unless_named_as_plain_mrc(counting, stack_mrc, name, expected):
    assert detect_format(counting(stack_mrc), name) == expected


def test_old_mrc_without_map_identifier_needs_consistent_size_and_mrc_name(
    counting, make, image_mrc
):
    without_map = image_mrc[:208] + b"\0\0\0\0" + image_mrc[212:]
    assert detect_format(counting(without_map), "old.mrc") == FileFormat.MRC
    assert detect_format(counting(without_map), "old.bin") == FileFormat.OTHER
    assert detect_format(counting(without_map + b"\0"), "old.mrc") == FileFormat.OTHER


@pytest.mark.parametrize(
    ("codec", "expected"), [("gzip", FileFormat.MRC_GZ), ("bzip2", FileFormat.MRC_BZ2)]
)
def test_compressed_maps_peek_at_the_decompressed_header(
    counting, make, image_mrc, codec, expected
):
    compressed = make.gzip(image_mrc) if codec == "gzip" else make.bzip2(image_mrc)
    detection = detect(counting(compressed), "emd_1.map.gz")
    assert (detection.format, detection.codec, detection.container) == (expected, codec, "mrc")


def test_compressed_non_mrc_is_other_without_problem(counting, make):
    detection = detect(counting(make.gzip(b"a tarball, say" * 100)), "data.tar.gz")
    assert (detection.format, detection.problem) == (FileFormat.OTHER, None)


def test_tiff_bigtiff_and_gain(counting, make):
    plain = make.tiff(np.zeros((8, 8), np.uint16))
    big = make.tiff(np.zeros((8, 8), np.uint16), bigtiff=True)
    big_endian = make.tiff(np.zeros((8, 8), ">u2"), byteorder=">")
    assert detect_format(counting(plain), "a.tif") == FileFormat.TIFF
    assert detect_format(counting(big), "a.tiff") == FileFormat.TIFF
    assert detect_format(counting(big_endian), "a.tiff") == FileFormat.TIFF
    assert detect_format(counting(plain), "CountRef_gain.tiff") == FileFormat.GAIN_REF
    assert detect_format(counting(plain), "20240901.gain") == FileFormat.GAIN_REF


@pytest.mark.parametrize("compression", [65000, 65001, 65002])
def test_eer_is_a_tiff_with_eer_compression(counting, make, compression):
    raw = make.eer(
        frames=2, compression=compression, bits=(8, 2, 2) if compression == 65000 else (7, 2, 2)
    )
    assert detect_format(counting(raw), "whatever.tif") == FileFormat.EER


def test_eer_with_integrated_first_image_is_recognised_by_its_metadata(counting, make):
    assert detect_format(counting(make.eer(frames=2, integrated=True)), "m.eer") == FileFormat.EER


def test_epu_xml_mdoc_and_text(counting):
    assert detect_format(counting(EPU_XML), "FoilHole_1_Data_2.xml") == FileFormat.EPU_XML
    assert detect_format(counting(b'<?xml version="1.0"?>\n' + EPU_XML), "x") == FileFormat.EPU_XML
    assert detect_format(counting(b"\xef\xbb\xbf" + EPU_XML), "x.xml") == FileFormat.EPU_XML
    assert detect_format(counting(EPU_XML.decode().encode("utf-16")), "x.xml") == FileFormat.EPU_XML
    assert detect(counting(b"<svg><g/></svg>"), "a.xml").reason == "XML with root <svg>"
    assert detect_format(counting(MDOC), "TS_41.mrc.mdoc") == FileFormat.MDOC
    assert (
        detect_format(counting(b"[FrameSet = 0]\nTiltAngle = 0\n"), "frames.txt") == FileFormat.MDOC
    )
    assert detect_format(counting(b"just notes\n"), "notes.txt") == FileFormat.OTHER
    assert detect(counting(b"just notes\n"), "notes.mdoc").problem is not None


def test_empty_and_unknown_binary(counting):
    assert detect(counting(b""), "x.mrc").problem == "empty file (0 bytes)"
    unknown = detect(counting(bytes(range(256)) * 20), "blob.bin")
    assert (unknown.format, unknown.problem) == (FileFormat.OTHER, None)


def test_detection_reads_only_the_first_kilobytes(counting, make, image_mrc):
    huge_mrc = counting(image_mrc, size=50 * 1024**3)  # pretends to be 50 GiB
    huge_mrc_stats = (
        detect_format(huge_mrc, "a.mrc"),
        huge_mrc.stats.requests,
        huge_mrc.stats.bytes_read,
    )
    assert huge_mrc_stats == (FileFormat.MRC, 1, 4096)
    eer = counting(make.eer(frames=100))
    assert detect_format(eer, "m.eer") == FileFormat.EER
    assert eer.stats.bytes_read <= 2 * 4096
    gz = counting(make.gzip(np.random.default_rng(1).bytes(4 * 1024 * 1024)))
    detect(gz, "noise.gz")
    assert gz.stats.bytes_read <= 64 * 1024 + 4096

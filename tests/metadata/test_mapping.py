"""Mapping tables: loading and checking, per-file application, and paths into documents."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from metadata.mapping import (
    DEFAULT_SCHEMA_VERSION,
    MappingError,
    apply_fields,
    available_mappings,
    drop_incomplete,
    get_path,
    load_mapping,
    parse_datetime,
    parse_mapping,
    set_path,
)

REPO = Path(__file__).resolve().parents[2]
TOMO = ("subtomo", "cellular_tomo", "env_tomo")


def schemas_dir() -> Path:
    path = Path(os.environ.get("OPENEM_SCHEMAS_DIR", REPO.parent / "shared" / "schemas"))
    if not (path / "oscem").is_dir():
        pytest.skip(f"official OSC-EM schemas not found in {path}/oscem: set OPENEM_SCHEMAS_DIR")
    return path / "oscem"


def minimal_table(**overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "schema": "OSC-EM",
        "schema_version": "9.9",
        "source": "test",
        "fields": {"voltage": {"path": "HT", "type": "float", "source_unit": "V", "unit": "kV"}},
        "targets": [
            {
                "target": "instrument.acceleration_voltage",
                "field": "voltage",
                "aggregate": "first",
                "output": "quantity",
                "unit": "kV",
            }
        ],
    }
    table.update(overrides)
    return table


# -- loading ------------------------------------------------------------------------------------


def test_shipped_tables_load() -> None:
    assert (DEFAULT_SCHEMA_VERSION, "epu") in available_mappings()
    assert (DEFAULT_SCHEMA_VERSION, "mdoc") in available_mappings()
    for source in ("epu", "mdoc"):
        table = load_mapping(DEFAULT_SCHEMA_VERSION, source)
        assert table.source == source
        assert table.schema_version == DEFAULT_SCHEMA_VERSION
        assert len(table.fields) > 15
        assert len(table.targets) > 20


@pytest.mark.parametrize("source", ["epu", "mdoc"])
def test_tables_cover_the_acquisition_essentials(source: str) -> None:
    targets = {rule.target for rule in load_mapping(DEFAULT_SCHEMA_VERSION, source).targets}
    essentials = {
        "instrument.acceleration_voltage",
        "instrument.cs",
        "instrument.microscope.model",
        "acquisition.technique",
        "acquisition.pixel_size",
        "acquisition.dose_per_movie",
        "acquisition.exposure_time",
        "acquisition.calibrated_defocus.minimal",
        "acquisition.calibrated_defocus.maximal",
        "acquisition.nominal_defocus.minimal",
        "acquisition.nominal_magnification",
        "acquisition.detectors",
        "acquisition.date_time",
        "acquisition.microscope_software",
        "acquisition.energy_filter.used",
        "acquisition.energy_filter.width_energy_filter",
        "acquisition.image_size.width",
        "acquisition.binning_camera.height",
        "acquisition.imageshift.x_min",
        "acquisition.images_generated",
    }
    per_source = {
        "epu": {
            "instrument.c2_aperture",
            "instrument.illumination",
            "instrument.imaging",
            "instrument.electron_source",
            "acquisition.specialist_optics.phaseplate",
            "acquisition.imageshift.y_max",
            "acquisition.beamtilt.x_max",
        },
        "mdoc": {
            "acquisition.tilt_angle.minimal",
            "acquisition.tilt_angle.increment",
            "acquisition.tilt_axis_angle",
            "acquisition.frames_per_movie",
        },
    }
    assert essentials | per_source[source] <= targets


def test_unknown_version_or_source_is_a_clear_error() -> None:
    with pytest.raises(MappingError, match=r"no mapping for OSC-EM 0\.1 .*available: 1\.0\.2/epu"):
        load_mapping("0.1", "epu")
    with pytest.raises(MappingError, match="no mapping"):
        load_mapping(DEFAULT_SCHEMA_VERSION, "dm4")
    with pytest.raises(MappingError, match="invalid schema version"):
        load_mapping("../../etc", "epu")
    with pytest.raises(MappingError, match="invalid mapping source"):
        load_mapping(DEFAULT_SCHEMA_VERSION, "../epu")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "unknown keys \\['colour'\\]"),
        ({"fields": {"v": {"path": "HT", "type": "complex"}}, "targets": []}, "type 'complex'"),
        ({"fields": {"v": {"path": "HT", "type": "float", "unit": "kV"}}}, "give both"),
        (
            {"fields": {"v": {"path": "HT", "type": "float", "source_unit": "V", "unit": "xyz"}}},
            "unknown unit 'xyz'",
        ),
        (
            {"fields": {"v": {"path": "HT", "type": "float", "source_unit": "V", "unit": "nm"}}},
            "different dimensions",
        ),
        ({"fields": {"v": {"type": "str"}}, "targets": []}, "'path' is a raw key"),
        ({"fields": {"v": {"path": "x", "type": "str", "unit": "nm"}}}, "only float fields"),
        ({"targets": [{"target": "a.b", "field": "nope", "output": "str"}]}, "unknown field"),
        (
            {"targets": [{"target": "a.b", "field": "voltage", "output": "quantity"}]},
            "needs a unit",
        ),
        ({"targets": [{"target": "A..b", "field": "voltage", "output": "str"}]}, "invalid OSC-EM"),
        ({"targets": [{"target": "a.b", "output": "str"}]}, "exactly one of 'field'"),
        (
            {
                "targets": [
                    {"target": "a.b", "field": "voltage", "aggregate": "median", "output": "str"}
                ]
            },
            "aggregate 'median'",
        ),
        (
            {
                "targets": [
                    {"target": "a.b", "field": "voltage", "output": "str", "techniques": ["x"]}
                ]
            },
            "techniques must be among",
        ),
        ({"targets": [{"target": "a.b", "field": "voltage", "output": "objects"}]}, "item_key"),
        ({"requires": {"a.b[0]": ["c"]}}, "'requires' maps"),
    ],
)
def test_malformed_tables_are_refused_when_loaded(change: dict[str, Any], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        parse_mapping(minimal_table(**change))


def test_target_unit_may_differ_from_field_unit() -> None:
    table = parse_mapping(
        minimal_table(
            targets=[
                {
                    "target": "instrument.acceleration_voltage",
                    "field": "voltage",
                    "output": "quantity",
                    "unit": "V",
                }
            ]
        )
    )
    assert table.targets[0].factor == 1000.0


def _schema_node(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow $ref and the non-null branch of anyOf."""
    while True:
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in node:
            node = next(option for option in node["anyOf"] if option.get("type") != "null")
        else:
            return node


@pytest.mark.parametrize("source", ["epu", "mdoc"])
@pytest.mark.parametrize("technique", ["spa", *TOMO, "general"])
def test_every_target_exists_in_the_official_schema(source: str, technique: str) -> None:
    """A typo in a target path would write a field OSC-EM (additionalProperties: false) refuses."""
    schema = json.loads(
        (schemas_dir() / f"oscem_schemas_{technique}.schema.json").read_text(encoding="utf-8")
    )
    table = load_mapping(DEFAULT_SCHEMA_VERSION, source)
    checked = 0
    for rule in table.targets:
        if not rule.applies_to(technique):
            continue
        node: dict[str, Any] = schema
        for part in rule.target.split("."):
            node = _schema_node(schema, node)
            assert part in node.get("properties", {}), f"{rule.target}: no {part!r} in {technique}"
            node = node["properties"][part]
        checked += 1
    assert checked >= 20


def test_yaml_tables_are_plain_data() -> None:
    """safe_load only: the tables are data, reviewed as data."""
    folder = REPO / "metadata" / "mapping" / "oscem_v1_0_2"
    for path in folder.glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert data["schema_version"] == "1.0.2"
        assert data["source"] == path.stem


# -- applying the per-file part ---------------------------------------------------------------


def test_apply_fields_converts_units_and_types() -> None:
    table = load_mapping(DEFAULT_SCHEMA_VERSION, "epu")
    raw = {
        "microscopeData.gun.AccelerationVoltage": "200000",
        "CustomData.Dose": "5E+21",
        "microscopeData.optics.Defocus": "-2.5E-06",
        "SpatialScale.pixelSize.x.numericValue": "1.06E-10",
        "microscopeData.optics.TemMagnification.NominalMagnification": "105000",
        "microscopeData.optics.EnergyFilter.EnergySelectionSlitInserted": "false",
        "microscopeData.acquisition.acquisitionDateTime": "2024-01-02T03:04:05.1234567+01:00",
        "CustomData.Aperture[C2].Name": "None",
    }
    values, warnings = apply_fields(table, raw)
    assert warnings == []
    assert values["voltage"] == 200.0
    assert values["dose"] == pytest.approx(50.0)
    assert values["defocus_calibrated"] == -2500.0
    assert values["pixel_size"] == pytest.approx(1.06)
    assert values["magnification"] == 105000
    assert values["energy_filter_used"] is False
    assert values["acquisition_time"] == "2024-01-02T03:04:05.123456+01:00"
    assert "c2_aperture" not in values  # "None" means no aperture, not an error
    json.dumps(values)


def test_apply_fields_tokens_fallbacks_and_bad_values() -> None:
    table = load_mapping(DEFAULT_SCHEMA_VERSION, "mdoc")
    raw = {
        "ImageShift": "1.5 -0.25",
        "ImageSize": "4096",  # second token missing
        "FilterSlitAndLoss": "0 0",
        "Derived.TiltAxisAngle": "-85.2",
        "Magnification": "53000.5",
        "Voltage": "NaN",
        "DateTime": "31-Foo-23  13:59:32",
    }
    values, warnings = apply_fields(table, raw)
    assert values["image_shift_x"] == 1.5
    assert values["image_shift_y"] == -0.25
    assert values["image_width"] == 4096 and "image_height" not in values
    assert values["energy_filter_used"] is False and values["energy_filter_width"] == 0.0
    assert values["tilt_axis_angle"] == -85.2  # from the title, no TiltAxisAngle key
    assert {"magnification", "voltage", "acquisition_time"}.isdisjoint(values)
    assert any("Magnification" in w and "whole number" in w for w in warnings)
    assert any("Voltage" in w and "finite" in w for w in warnings)
    assert any("DateTime" in w for w in warnings)


def test_first_parsable_path_wins() -> None:
    table = load_mapping(DEFAULT_SCHEMA_VERSION, "epu")
    values, _ = apply_fields(table, {"microscopeData.acquisition.camera.Name": "BM-Falcon"})
    assert values["detector_name"] == "BM-Falcon"
    values, _ = apply_fields(
        table,
        {
            "CustomData.DetectorCommercialName": "Falcon 4i",
            "microscopeData.acquisition.camera.Name": "BM-Falcon",
        },
    )
    assert values["detector_name"] == "Falcon 4i"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("03-May-23  13:59:32", "2023-05-03T13:59:32"),
        ("3-May-2023 08:00:01", "2023-05-03T08:00:01"),
        ("2023-Dec-24  23:59:59", "2023-12-24T23:59:59"),
        ("2024-09-01T06:01:19.0039293+02:00", "2024-09-01T06:01:19.003929+02:00"),
        ("2024-09-01T06:01:19Z", "2024-09-01T06:01:19+00:00"),
    ],
)
def test_parse_datetime(text: str, iso: str) -> None:
    assert parse_datetime(text).isoformat() == iso


@pytest.mark.parametrize("text", ["", "yesterday", "31-Foo-23  13:59:32", "32-May-23 10:00:00"])
def test_parse_datetime_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


# -- documents --------------------------------------------------------------------------------


def test_set_and_get_path() -> None:
    document: dict[str, Any] = {}
    set_path(document, "acquisition.detectors[1].name", "K3")
    set_path(document, "acquisition.pixel_size", {"value": 1.0, "unit": "Å"})
    assert document == {
        "acquisition": {
            "detectors": [{}, {"name": "K3"}],
            "pixel_size": {"value": 1.0, "unit": "Å"},
        }
    }
    assert get_path(document, "acquisition.detectors[1].name") == "K3"
    assert get_path(document, "acquisition.detectors[5].name") is None
    assert get_path(document, "instrument.cs") is None


def test_drop_incomplete_removes_objects_and_empty_parents() -> None:
    document: dict[str, Any] = {
        "acquisition": {
            "energy_filter": {"used": True},
            "specialist_optics": {"phaseplate": {"used": False}},
            "tilt_angle": {"minimal": 1, "maximal": 2, "increment": 1},
        }
    }
    notes = drop_incomplete(
        document,
        {
            "acquisition.energy_filter": ("used", "width_energy_filter"),
            "acquisition.specialist_optics.phaseplate": ("used", "instrument_type"),
            "acquisition.tilt_angle": ("minimal", "maximal", "increment"),
        },
    )
    assert document == {"acquisition": {"tilt_angle": {"minimal": 1, "maximal": 2, "increment": 1}}}
    assert notes == [
        "acquisition.energy_filter left out: the files do not give width_energy_filter",
        "acquisition.specialist_optics.phaseplate left out: the files do not give instrument_type",
    ]


@pytest.mark.parametrize("source", ["epu", "mdoc"])
def test_angstrom_is_written_as_osc_em_writes_it(source: str) -> None:
    """OSC-EM's examples and the reference output use U+212B ANGSTROM SIGN, not U+00C5: a
    consumer comparing unit strings sees two different units otherwise."""
    table = load_mapping(DEFAULT_SCHEMA_VERSION, source)
    units = [rule.unit for rule in table.targets if rule.unit] + [
        rule.unit for rule in table.fields if rule.unit
    ]
    assert "\u212b" in {char for unit in units for char in unit}
    assert not any("\u00c5" in unit for unit in units)

"""EER: geometry and compression from the first IFD, acquisition values from the tag-65001
XML with their units honoured, and a request budget independent of the frame count."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.formats import FileFormat, eer, extract


def q(value, unit):
    return {"value": pytest.approx(value, rel=1e-9), "unit": unit}


def test_metadata_values_and_units(counting, make):
    result = extract(counting(make.eer(frames=12, width=64, height=32)), "FoilHole_1_fractions.eer")
    header, acquisition = result.header, result.header["acquisition"]
    assert (result.format, result.errors, result.warnings) == (FileFormat.EER, [], [])
    assert (header["width"], header["height"], header["bigtiff"]) == (64, 32, True)
    assert (header["compression"], header["compression_code"], header["rle_bits"]) == (
        "eer_v1",
        65001,
        7,
    )
    assert header["subpixel_bits"] == {"horizontal": 2, "vertical": 2}
    assert header["frames"] == acquisition["frames"] == 12
    assert acquisition["exposure_time"] == q(4.5, "s")
    assert acquisition["pixel_size"] == {"x": q(0.75, "A"), "y": q(0.75, "A")}  # 7.5e-11 m
    assert acquisition["dose_per_pixel"] == q(23.4, "e/pixel")
    assert acquisition["dose"] == q(23.4 / 0.75**2, "e/A^2")
    assert acquisition["dose_rate"] == q(5.2, "e/pixel/s")
    assert (acquisition["detector"], acquisition["detector_serial"]) == ("Falcon 4i", "FAL-12345")
    assert acquisition["timestamp"] == "2025-03-14T17:40:48.482908+01:00"
    assert header["metadata"]["sensorPixelSize.width"] == {"value": 7.5e-11, "unit": "m"}
    assert header["metadata"]["commercialName"] == {"value": "Falcon 4i", "unit": None}


def test_units_other_than_si_and_missing_units(counting, make):
    items = {
        "numberOfFrames": (40, None),
        "exposureTime": (1500, "ms"),
        "sensorPixelSize.width": (0.08, "nm"),
        "sensorPixelSize.height": (8e-11, None),  # no unit: metres assumed, with a warning
        "totalDose": (40.0, "e/Å²"),
        "timestamp": ("yesterday", None),
    }
    result = extract(counting(make.eer(frames=2, items=items)), "a.eer")
    acquisition = result.header["acquisition"]
    assert acquisition["exposure_time"] == q(1.5, "s")
    assert acquisition["pixel_size"] == {"x": q(0.8, "A"), "y": q(0.8, "A")}
    assert acquisition["dose"] == q(40.0, "e/A^2")
    assert "dose_per_pixel" not in acquisition
    assert (acquisition["frames"], acquisition["timestamp"]) == (40, "yesterday")
    assert sorted(result.warnings) == [
        "EER item sensorPixelSize.height has no unit; assuming m",
        "EER timestamp 'yesterday' is not ISO 8601; kept as written",
    ]


def test_without_pixel_size_dose_stays_per_pixel(counting, make):
    items = {"numberOfFrames": (5, None), "totalDose": (12.0, "e/pixel")}
    acquisition = extract(counting(make.eer(frames=2, items=items)), "a.eer").header["acquisition"]
    assert acquisition == {"frames": 5, "dose_per_pixel": q(12.0, "e/pixel")}


def test_missing_frame_count_is_a_warning(counting, make):
    result = extract(
        counting(make.eer(frames=2, items={"commercialName": ("Falcon 4", None)})), "a.eer"
    )
    assert result.header["frames"] is None
    assert result.warnings == ["EER metadata has no numberOfFrames: frame count unknown"]


def test_no_metadata_tag_is_an_error_with_geometry(counting, make):
    result = extract(counting(make.eer(frames=3, metadata=False, width=32, height=16)), "a.eer")
    assert (result.format, result.errors) == (
        FileFormat.EER,
        ["EER file has no metadata tag 65001"],
    )
    assert (result.header["width"], result.header["height"], result.header["compression_code"]) == (
        32,
        16,
        65001,
    )


def test_variable_coding_reads_bits_from_tags(counting, make):
    header = extract(
        counting(make.eer(frames=2, compression=65002, bits=(5, 1, 3))), "v2.eer"
    ).header
    assert (header["compression"], header["rle_bits"]) == ("eer_v2", 5)
    assert header["subpixel_bits"] == {"horizontal": 1, "vertical": 3}


def test_integrated_first_page(counting, make):
    header = extract(counting(make.eer(frames=3, integrated=True)), "a.eer").header
    assert (header["integrated_first_page"], header["compression_code"], header["frames"]) == (
        True,
        65001,
        3,
    )


@pytest.mark.parametrize("frames", [100, 10_000])
def test_request_budget_does_not_grow_with_frames(counting, make, request, frames):
    raw = (
        request.getfixturevalue("eer_10000_frames") if frames == 10_000 else make.eer(frames=frames)
    )
    source = counting(raw)
    result = extract(source, "movie.eer")
    assert (result.header["frames"], result.errors) == (frames, [])
    assert source.stats.requests <= 2
    assert source.stats.bytes_read <= 1024 * 1024
    print(f"EER {frames} frames ({source.size} bytes): {source.stats}")


def test_frames_decode_to_the_encoded_events(counting, make):
    source = counting(make.eer(frames=4, width=64, height=32))
    frames = list(eer.iter_frames(source, 10))
    assert len(frames) == 4
    for index, frame in enumerate(frames):
        assert frame.shape == (32, 64)
        assert np.flatnonzero(frame).tolist() == make.frame_events(index, 64, 32)


def test_iter_frames_stops_at_the_limit_and_skips_the_integrated_image(counting, make):
    frames = list(eer.iter_frames(counting(make.eer(frames=5, integrated=True)), 2))
    assert len(frames) == 2
    assert np.flatnonzero(frames[1]).tolist() == make.frame_events(1, 64, 64)


def test_parse_metadata_xml_types():
    xml = b'<metadata><item name="a">3</item><item name="b" unit="s">0.5</item><item name="c">Yes</item></metadata>\0'
    assert eer.parse_metadata_xml(xml) == {
        "a": {"value": 3, "unit": None},
        "b": {"value": 0.5, "unit": "s"},
        "c": {"value": "Yes", "unit": None},
    }

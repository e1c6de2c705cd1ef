"""Thermo Fisher EER movies: a TIFF per hardware frame, metadata XML in private tag 65001.

A 40-second Falcon 4 movie holds thousands of IFDs; walking them costs a request each on
object storage, so everything comes from the first IFD and its XML (``numberOfFrames``). The
XML's units are honoured: EER writes pixel sizes in metres and doses per pixel, which we
convert to Angstrom and, where the pixel size allows, to e/A^2.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
from defusedxml import ElementTree

from ingest.formats.base import (
    FileFormat,
    FormatError,
    FormatResult,
    ThumbnailPlan,
    guarded,
    quantity,
)
from ingest.formats.tiffstruct import (
    COMPRESSION,
    EER_COMPRESSIONS,
    EER_METADATA_TAG,
    IfdEntry,
    TiffLayout,
    entry_bytes,
    entry_int,
    parse_tiff_header,
    read_ifd,
)
from storage.base import ByteSource
from storage.sources import CachedSource

COMPRESSION_NAMES = {65000: "eer_v0", 65001: "eer_v1", 65002: "eer_v2"}
#: (run-length bits, horizontal sub-pixel bits, vertical sub-pixel bits) by compression;
#: 65002 declares its own in tags 65007-65009.
DEFAULT_BITS = {65000: (8, 2, 2), 65001: (7, 2, 2), 65002: (7, 2, 2)}
MAX_METADATA_BYTES = 1024 * 1024
LENGTH_TO_ANGSTROM = {"m": 1e10, "mm": 1e7, "um": 1e4, "µm": 1e4, "nm": 10.0, "a": 1.0, "å": 1.0}
TIME_TO_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
PER_PIXEL_UNITS = {"e/pixel", "e/px", "e-/pixel", "electrons/pixel", "counts/pixel"}


@guarded("EER header", FileFormat.EER)
def extract(source: ByteSource, name_hint: str = "") -> FormatResult:
    cached = source if isinstance(source, CachedSource) else CachedSource(source)
    layout = parse_tiff_header(cached.read_at(0, 16))
    if layout is None:
        raise FormatError("no TIFF header: EER files are BigTIFF")
    entries, next_offset = read_ifd(cached, layout, layout.first_ifd)
    header = _geometry(cached, layout, entries, next_offset)
    result = FormatResult(format=FileFormat.EER, header=header)
    metadata_entry = entries.get(EER_METADATA_TAG)
    if metadata_entry is None:
        result.errors.append("EER file has no metadata tag 65001")
    else:
        _read_metadata(result, entry_bytes(cached, metadata_entry, layout, MAX_METADATA_BYTES))
    frames = header["frames"]
    if (
        header["width"] > 0
        and header["height"] > 0
        and header["compression_code"] in EER_COMPRESSIONS
    ):
        result.thumbnail_plan = ThumbnailPlan(
            kind="eer_frames", width=header["width"], height=header["height"], frames=frames or 0
        )
    return result


def _frame_bits(
    entries: dict[int, IfdEntry], layout: TiffLayout, compression: int
) -> tuple[int, int, int]:
    bits = DEFAULT_BITS.get(compression, (7, 2, 2))
    if compression == 65002:
        declared = [entry_int(entries.get(tag), layout) for tag in (65007, 65008, 65009)]
        bits = tuple(
            value if value else default for value, default in zip(declared, bits, strict=True)
        )  # type: ignore[assignment]
    return bits


def _geometry(
    source: ByteSource, layout: TiffLayout, entries: dict[int, IfdEntry], next_offset: int
) -> dict[str, Any]:
    width = entry_int(entries.get(256), layout) or 0
    height = entry_int(entries.get(257), layout) or 0
    compression = entry_int(entries.get(COMPRESSION), layout) or 1
    integrated = compression not in EER_COMPRESSIONS
    frame_entries = entries
    if integrated and next_offset:
        # Newer EER files start with an integrated image; the frames follow.
        frame_entries, _ = read_ifd(source, layout, next_offset)
        compression = entry_int(frame_entries.get(COMPRESSION), layout) or compression
    rle, horizontal, vertical = _frame_bits(frame_entries, layout, compression)
    return {
        "container": "eer",
        "file_size": source.size,
        "byte_order": "little" if layout.byteorder == "<" else "big",
        "bigtiff": layout.bigtiff,
        "width": width,
        "height": height,
        "compression": COMPRESSION_NAMES.get(compression, str(compression)),
        "compression_code": compression,
        "integrated_first_page": integrated,
        "rle_bits": rle,
        "subpixel_bits": {"horizontal": horizontal, "vertical": vertical},
        "frames": None,
        "metadata": {},
        "acquisition": {},
    }


def parse_metadata_xml(xml: bytes) -> dict[str, dict[str, Any]]:
    """``<metadata><item name=".." unit="..">value</item>`` as ``{name: {value, unit}}``."""
    root = ElementTree.fromstring(xml.rstrip(b"\0"))
    items: dict[str, dict[str, Any]] = {}
    for item in root.iter("item"):
        name = item.get("name")
        if not name:
            continue
        text = (item.text or "").strip()
        try:
            value: Any = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            value = text
        items[name] = {"value": value, "unit": item.get("unit")}
    return items


def _read_metadata(result: FormatResult, xml: bytes) -> None:
    try:
        items = parse_metadata_xml(xml)
    except Exception as exc:
        result.errors.append(f"EER metadata tag 65001 is not valid XML ({exc})")
        return
    result.header["metadata"] = items
    acquisition = _acquisition(items, result.warnings)
    result.header["acquisition"] = acquisition
    result.header["frames"] = acquisition.get("frames")
    if result.header["frames"] is None:
        result.warnings.append("EER metadata has no numberOfFrames: frame count unknown")


def _number(items: dict[str, dict[str, Any]], name: str) -> tuple[float | None, str | None]:
    item = items.get(name)
    if item is None or isinstance(item["value"], str):
        return None, None
    return float(item["value"]), (item["unit"] or None)


def _converted(
    items: dict[str, dict[str, Any]],
    name: str,
    table: dict[str, float],
    unit: str,
    assumed: str,
    notes: list[str],
) -> dict[str, Any] | None:
    value, source_unit = _number(items, name)
    if value is None:
        return None
    if source_unit is None:
        notes.append(f"EER item {name} has no unit; assuming {assumed}")
        source_unit = assumed
    factor = table.get(source_unit.lower())
    if factor is None:
        notes.append(f"EER item {name} has unknown unit {source_unit!r}; left unconverted")
        return quantity(value, source_unit)
    return quantity(value * factor, unit)


def _acquisition(items: dict[str, dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    pixel = {
        axis: _converted(items, f"sensorPixelSize.{side}", LENGTH_TO_ANGSTROM, "A", "m", notes)
        for axis, side in (("x", "width"), ("y", "height"))
    }
    frames, _ = _number(items, "numberOfFrames")
    values: dict[str, Any] = {
        "frames": int(frames) if frames and frames > 0 else None,
        "exposure_time": _converted(items, "exposureTime", TIME_TO_SECONDS, "s", "s", notes),
        "pixel_size": pixel if any(pixel.values()) else None,
        "detector": _text(items, "commercialName"),
        "detector_serial": _text(items, "serialNumber"),
        "timestamp": _timestamp(_text(items, "timestamp"), notes),
    }
    values.update(_doses(items, pixel))
    return {key: value for key, value in values.items() if value is not None}


def _doses(items: dict[str, dict[str, Any]], pixel: dict[str, Any]) -> dict[str, Any]:
    """Total dose as written (per pixel) and, with a pixel size, per square Angstrom."""
    out: dict[str, Any] = {}
    total, unit = _number(items, "totalDose")
    rate, rate_unit = _number(items, "meanDoseRate")
    if rate is not None:
        out["dose_rate"] = quantity(rate, rate_unit or "e/pixel/s")
    if total is None:
        return out
    unit = unit or "e/pixel"
    if unit.lower() in PER_PIXEL_UNITS:
        out["dose_per_pixel"] = quantity(total, "e/pixel")
        if pixel.get("x") and pixel.get("y") and pixel["x"]["unit"] == "A" == pixel["y"]["unit"]:
            out["dose"] = quantity(total / (pixel["x"]["value"] * pixel["y"]["value"]), "e/A^2")
    elif unit.replace("Å", "A").replace("²", "^2") in ("e/A^2", "e/A2"):
        out["dose"] = quantity(total, "e/A^2")
    else:
        out["total_dose"] = quantity(total, unit)
    return out


def _text(items: dict[str, dict[str, Any]], name: str) -> str | None:
    item = items.get(name)
    if item is None:
        return None
    return str(item["value"]).strip() or None


def _timestamp(text: str | None, notes: list[str]) -> str | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        notes.append(f"EER timestamp {text!r} is not ISO 8601; kept as written")
        return text


def iter_frames(source: ByteSource, max_frames: int) -> Iterator[np.ndarray]:
    """Decode up to ``max_frames`` EER frames (bool arrays), following the IFD chain safely."""
    import imagecodecs  # optional at import time: detection and headers do not need it

    layout = parse_tiff_header(source.read_at(0, 16))
    if layout is None:
        raise FormatError("no TIFF header")
    seen: set[int] = set()
    offset, decoded = layout.first_ifd, 0
    while offset and decoded < max_frames and len(seen) <= max_frames:
        if offset in seen:
            raise FormatError(f"TIFF directory chain loops back to offset {offset}")
        seen.add(offset)
        entries, offset = read_ifd(source, layout, offset)
        compression = entry_int(entries.get(COMPRESSION), layout)
        if compression not in EER_COMPRESSIONS:
            continue  # the integrated image
        width, height = entry_int(entries.get(256), layout), entry_int(entries.get(257), layout)
        if not width or not height:
            raise FormatError("EER frame without image width/length")
        rle, horizontal, vertical = _frame_bits(entries, layout, compression)
        data = _strip_bytes(source, layout, entries)
        yield imagecodecs.eer_decode(data, (height, width), rle, horizontal, vertical)
        decoded += 1


def _strip_bytes(source: ByteSource, layout: TiffLayout, entries: dict[int, IfdEntry]) -> bytes:
    offsets, counts = entries.get(273), entries.get(279)
    if offsets is None or counts is None:
        raise FormatError("EER frame without strip offsets")
    if offsets.count != 1:
        raise FormatError(f"EER frame with {offsets.count} strips (expected one)")
    start, length = entry_int(offsets, layout), entry_int(counts, layout)
    if start is None or length is None or start + length > source.size:
        raise FormatError("EER frame strip lies outside the file")
    return source.read_at(start, length)

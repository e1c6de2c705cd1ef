"""Dataset metadata from the image files' own headers (MRC, EER, TIFF), for datasets whose
sidecars (EPU XML, mdoc) do not say it, or that have none: pixel size (a map's voxel size),
image size, frames per movie, dose and exposure where EER records them, the detector, the
acquisition time.

One pass over the dataset's ready image files (their stored headers, no file is read); the
first file that has a value gives it (EER movies first: their XML is the detector's own
record, then MRC images, then maps and TIFF). Sidecar values win over these (see
:func:`ingest.services.dataset_aggregate_metadata`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from metadata.units import UnknownUnit, convert, quantity

#: Significant digits kept of header floats (MRC stores float32: 0.8300000031789144 -> 0.83).
_DIGITS = 7
_ORDER = {"eer": 0, "mrc": 1, "tiff": 2}


def _clean(value: float) -> float:
    return float(f"{value:.{_DIGITS}g}")


def _angstrom(quantity: Any) -> float | None:
    if not isinstance(quantity, dict):
        return None
    value, unit = quantity.get("value"), quantity.get("unit")
    if not isinstance(value, int | float) or not isinstance(unit, str) or value <= 0:
        return None
    try:
        return _clean(convert(float(value), unit, "Å"))
    except (UnknownUnit, ValueError):
        return None


def _values(fmt: str, header: dict[str, Any]) -> dict[str, Any]:
    """``{"acquisition.pixel_size": ..., ...}`` from one file's header."""
    found: dict[str, Any] = {}
    if fmt == "eer":
        acquisition = header.get("acquisition") or {}
        pixel = _angstrom((acquisition.get("pixel_size") or {}).get("x"))
        if pixel:
            found["acquisition.pixel_size"] = quantity(pixel, "Å")
        if acquisition.get("frames"):
            found["acquisition.frames_per_movie"] = int(acquisition["frames"])
        dose = acquisition.get("dose") or {}
        if isinstance(dose.get("value"), int | float) and dose.get("unit") in ("e/A^2", "e/Å^2"):
            found["acquisition.dose_per_movie"] = quantity(float(dose["value"]), "e/Å^2")
        exposure = acquisition.get("exposure_time") or {}
        if isinstance(exposure.get("value"), int | float):
            found["acquisition.exposure_time"] = quantity(float(exposure["value"]), "s")
        if acquisition.get("detector"):
            found["acquisition.detectors"] = [{"name": str(acquisition["detector"])}]
        if acquisition.get("timestamp"):
            found["acquisition.date_time"] = str(acquisition["timestamp"])
    elif fmt == "mrc":
        pixel = _angstrom((header.get("voxel_size") or {}).get("x"))
        if pixel:
            found["acquisition.pixel_size"] = quantity(pixel, "Å")
    elif fmt == "tiff" and header.get("pages"):
        found["acquisition.frames_per_movie"] = int(header["pages"])
    width, height = (
        header.get("width") or header.get("nx"),
        header.get("height") or header.get("ny"),
    )
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        found["acquisition.image_size"] = {"width": width, "height": height}
    return found


def image_header_document(
    rows: Iterable[tuple[str, str, dict[str, Any]]], *, technique: str
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The OSC-EM document the headers give, and the provenance of each of its paths.

    ``rows``: (path, format, header) of ready files, in any order."""
    chosen: dict[str, tuple[int, str, Any]] = {}
    for path, fmt, header in rows:
        if fmt not in _ORDER or not isinstance(header, dict):
            continue
        for target, value in _values(fmt, header).items():
            if target not in chosen or (_ORDER[fmt], path) < chosen[target][:2]:
                chosen[target] = (_ORDER[fmt], path, value)
    document: dict[str, Any] = {}
    provenance: dict[str, dict[str, str]] = {}
    for target, (_order, path, value) in sorted(chosen.items()):
        node = document
        *parents, last = target.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        provenance[target] = {"file": path, "source": "header"}
    if "acquisition" in document:
        document["acquisition"]["technique"] = technique
    return document, provenance

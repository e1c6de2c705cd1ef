"""MRC extended headers: the first FEI1/FEI2 record (EPU, Tomo) and SerialEM's SERI basics.

FEI records hold the acquisition parameters in SI units (HT in V, dose in e/m^2, lengths in
m); we read only the first record, which describes the image (or the first frame), and
convert to the units the portal uses everywhere: kV, e/A^2, A, nm, um, s.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from mrcfile.dtypes import get_ext_header_dtype

from ingest.formats.base import quantity

FEI_TYPES = (b"FEI1", b"FEI2")
#: Windows OLE Automation dates (days since 1899-12-30) are what FEI writes as Timestamp.
_OLE_EPOCH = datetime(1899, 12, 30)


def fei_record_size(exttyp: bytes) -> int:
    dtype = get_ext_header_dtype(exttyp, "<")
    return int(dtype.itemsize) if dtype is not None else 0


def _text(value: Any) -> str:
    return bytes(value).split(b"\0", 1)[0].decode("ascii", "replace").strip()


def _positive(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) and number > 0 else None


def _scaled(
    value: Any, factor: float, unit: str, *, positive: bool = False
) -> dict[str, Any] | None:
    number = float(value)
    if positive and not number > 0:
        return None  # FEI writes 0 for "not recorded"
    return quantity(number * factor, unit)


def _ole_timestamp(days: float) -> str | None:
    if not np.isfinite(days) or not 1 < days < 200_000:
        return None
    return (_OLE_EPOCH + timedelta(days=float(days))).isoformat(timespec="seconds")


def parse_fei_record(
    raw: bytes, exttyp: bytes, byteorder: str
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Decode one FEI record into (extended-header info, acquisition values, warnings)."""
    dtype = get_ext_header_dtype(exttyp, byteorder)
    if dtype is None or len(raw) < dtype.itemsize:
        return (
            {},
            {},
            [f"extended header type {exttyp.decode()} but its first record is incomplete"],
        )
    record = np.frombuffer(raw[: dtype.itemsize], dtype=dtype)[0]
    warnings: list[str] = []
    declared = int(record["Metadata size"])
    if declared < dtype.itemsize:
        warnings.append(
            f"{exttyp.decode()} record declares {declared} bytes, fewer than the {dtype.itemsize} expected"
        )
        return {}, {}, warnings
    info = {"metadata_version": int(record["Metadata version"]), "record_size": declared}
    acquisition = _fei_acquisition(record, exttyp)
    return info, {key: value for key, value in acquisition.items() if value is not None}, warnings


def _fei_acquisition(record: Any, exttyp: bytes) -> dict[str, Any]:
    pixel_x = _scaled(record["Pixel size X"], 1e10, "A", positive=True)
    pixel_y = _scaled(record["Pixel size Y"], 1e10, "A", positive=True)
    application = " ".join(
        part
        for part in (_text(record["Application"]), _text(record["Application version"]))
        if part
    )
    values: dict[str, Any] = {
        "voltage": _scaled(record["HT"], 1e-3, "kV", positive=True),
        "dose": _scaled(record["Dose"], 1e-20, "e/A^2", positive=True),
        "pixel_size": {"x": pixel_x, "y": pixel_y} if pixel_x or pixel_y else None,
        "defocus": _scaled(record["Defocus"], 1e9, "nm"),
        "applied_defocus": _scaled(record["Applied defocus"], 1e9, "nm"),
        "exposure_time": _scaled(record["Integration time"], 1.0, "s", positive=True),
        "magnification": _positive(record["Magnification"]),
        "tilt_angle": quantity(record["Alpha tilt"], "deg"),
        "stage_position": {
            axis: _scaled(record[f"{axis.upper()}-Stage"], 1e6, "um") for axis in ("x", "y", "z")
        },
        "binning": {"x": int(record["Binning Width"]), "y": int(record["Binning Height"])},
        "electron_counting": bool(record["Direct detector electron counting"]),
        "detector": _text(record["Camera name"]) or None,
        "microscope": _text(record["Microscope type"]) or None,
        "software": application or None,
        "timestamp": _ole_timestamp(float(record["Timestamp"])),
    }
    if exttyp == b"FEI2":
        values["detector_model"] = _text(record["Detector commercial name"]) or None
    return values


def parse_seri(
    header_raw: bytes, ext_raw: bytes, nsymbt: int, byteorder: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """SerialEM/IMOD extended header basics: bytes per section, flags, first tilt angle.

    IMOD stores ``nint`` (bytes per section) and ``nreal`` (a bit mask of what each section
    holds) as two 16-bit integers at header bytes 128-131; bit 1 means each section starts
    with its tilt angle times 100.
    """
    bytes_per_section, flags = struct.unpack_from(byteorder + "hh", header_raw, 128)
    info: dict[str, Any] = {"bytes_per_section": bytes_per_section, "flags": flags}
    acquisition: dict[str, Any] = {}
    if bytes_per_section > 0:
        info["sections"] = nsymbt // bytes_per_section
        if flags & 1 and len(ext_raw) >= 2:
            (tilt,) = struct.unpack_from(byteorder + "h", ext_raw, 0)
            acquisition["tilt_angle"] = quantity(tilt / 100.0, "deg")
    return info, acquisition

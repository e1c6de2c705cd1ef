"""TIFF and BigTIFF: the first page's geometry and tags, via tifffile over ranged reads.

Only the first IFD is parsed. Counting pages means walking every IFD (one request each on
object storage), so the page count comes from the ImageJ or tifffile description when there
is one, and from a walk only when the whole file is small enough to sit in one read.
"""

from __future__ import annotations

import json
import math
import re
from typing import IO, Any, cast

import tifffile

from ingest.formats.base import (
    FileFormat,
    FormatError,
    FormatResult,
    ThumbnailPlan,
    guarded,
    is_gain_name,
)
from ingest.formats.tiffstruct import TiffLayout, count_ifds, parse_tiff_header, read_ifd
from storage.base import ByteSource
from storage.sources import CachedSource, ranged_file

#: Walk the IFD chain only for files up to this size (the top-level reader holds them in memory).
COUNT_PAGES_MAX_BYTES = 1024 * 1024
DESCRIPTION_MAX_CHARS = 4096
_IMAGEJ_IMAGES = re.compile(r"^images=(\d+)\s*$", re.MULTILINE)


def open_tiff(source: ByteSource) -> tifffile.TiffFile:
    """tifffile over a block-cached ranged file (the caller closes it)."""
    cached = source if isinstance(source, CachedSource) else CachedSource(source)
    return tifffile.TiffFile(cast(IO[bytes], ranged_file(cached)))


def read_layout(source: ByteSource) -> TiffLayout:
    layout = parse_tiff_header(source.read_at(0, 16))
    if layout is None:
        raise FormatError("no TIFF header (II*\\0, MM\\0*, or BigTIFF II+\\0)")
    return layout


def check_chain(source: ByteSource, layout: TiffLayout) -> tuple[int | None, list[str]]:
    """Page count for small files, and loop/offset problems found on the way."""
    _, next_offset = read_ifd(source, layout, layout.first_ifd)  # unreadable: FormatError
    errors: list[str] = []
    if source.size <= COUNT_PAGES_MAX_BYTES:
        try:
            return count_ifds(source, layout), errors
        except FormatError as exc:
            return None, [str(exc)]
    if next_offset == layout.first_ifd:
        errors.append(f"TIFF directory chain loops back to offset {next_offset} (corrupt file)")
    elif next_offset >= source.size:
        errors.append(f"TIFF next-directory offset {next_offset} is beyond the end of the file")
    return None, errors


@guarded("TIFF header", FileFormat.TIFF)
def extract(source: ByteSource, name_hint: str = "") -> FormatResult:
    cached = source if isinstance(source, CachedSource) else CachedSource(source)
    layout = read_layout(cached)
    fmt = FileFormat.GAIN_REF if is_gain_name(name_hint) else FileFormat.TIFF
    counted, errors = check_chain(cached, layout)
    with open_tiff(cached) as tif:
        page = tif.pages.first
        header = _page_header(page, layout, source.size)
        pages, how = _page_count(page, counted)
    header["pages"], header["pages_source"] = pages, how
    result = FormatResult(format=fmt, header=header, errors=errors)
    if not errors and header["width"] > 0 and header["height"] > 0:
        result.thumbnail_plan = ThumbnailPlan(
            kind="tiff_page",
            width=header["width"],
            height=header["height"],
            description="first page",
        )
    return result


def _page_header(page: Any, layout: TiffLayout, file_size: int) -> dict[str, Any]:
    description = page.description or None
    datetime = page.datetime
    return {
        "container": "tiff",
        "file_size": file_size,
        "byte_order": "little" if layout.byteorder == "<" else "big",
        "bigtiff": layout.bigtiff,
        "width": int(page.imagewidth),
        "height": int(page.imagelength),
        "dtype": str(page.dtype) if page.dtype is not None else None,
        "bits_per_sample": int(page.bitspersample),
        "samples_per_pixel": int(page.samplesperpixel),
        "compression": _enum_name(page.compression),
        "compression_code": int(page.compression),
        "photometric": _enum_name(page.photometric),
        "tiled": bool(page.is_tiled),
        "software": page.software or None,
        "datetime": datetime.isoformat() if datetime is not None else None,
        "description": description[:DESCRIPTION_MAX_CHARS] if description else None,
        "acquisition": {},
    }


def _enum_name(value: Any) -> str:
    name = getattr(value, "name", None)
    return name.lower() if name else str(int(value))


def _page_count(page: Any, counted: int | None) -> tuple[int | None, str | None]:
    """Pages from a walk, else from what ImageJ or tifffile declared in the description."""
    if counted is not None:
        return counted, "counted"
    if page.imagej_description:
        match = _IMAGEJ_IMAGES.search(page.imagej_description)
        if match and int(match.group(1)) > 0:
            return int(match.group(1)), "imagej"
    if page.shaped_description:
        try:
            shape = json.loads(page.shaped_description).get("shape")
        except (ValueError, AttributeError):
            shape = None
        page_size = math.prod(page.shape) if page.shape else 0
        if isinstance(shape, list) and page_size and math.prod(shape) % page_size == 0:
            return math.prod(shape) // page_size, "shaped"
    return None, None

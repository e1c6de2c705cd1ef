"""Just enough TIFF structure to detect EER and count pages, with loop protection.

tifffile reads tags and pixels; this module answers the two questions that must stay cheap
and bounded on object storage: what does the *first* IFD say (compression, EER metadata tag),
and how many IFDs are there (only walked when the caller says the file is small).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ingest.formats.base import FormatError
from storage.base import ByteSource

COMPRESSION = 259
EER_COMPRESSIONS = frozenset({65000, 65001, 65002})
EER_METADATA_TAG = 65001
MAX_IFD_ENTRIES = 4096
#: Bytes read at an IFD in one go: enough for ~200 BigTIFF entries.
IFD_WINDOW = 4096

_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    16: 8,
    17: 8,
    18: 8,
}
_INT_FORMATS = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q", 17: "q", 18: "Q"}


@dataclass(frozen=True)
class TiffLayout:
    byteorder: str  # "<" or ">"
    bigtiff: bool
    first_ifd: int

    @property
    def entry_size(self) -> int:
        return 20 if self.bigtiff else 12

    @property
    def count_size(self) -> int:
        return 8 if self.bigtiff else 2

    @property
    def offset_format(self) -> str:
        return "Q" if self.bigtiff else "I"


@dataclass(frozen=True)
class IfdEntry:
    tag: int
    type: int
    count: int
    field: bytes  # the raw value-or-offset field (4 or 8 bytes)


def parse_tiff_header(head: bytes) -> TiffLayout | None:
    """The byte order, flavour and first IFD offset, or None if this is not a TIFF."""
    if len(head) < 8 or head[:2] not in (b"II", b"MM"):
        return None
    order = "<" if head[:2] == b"II" else ">"
    (version,) = struct.unpack(order + "H", head[2:4])
    if version == 42:
        return TiffLayout(order, False, struct.unpack(order + "I", head[4:8])[0])
    if version == 43 and len(head) >= 16:
        offset_size, zero = struct.unpack(order + "HH", head[4:8])
        if offset_size == 8 and zero == 0:
            return TiffLayout(order, True, struct.unpack(order + "Q", head[8:16])[0])
    return None


def read_ifd(
    source: ByteSource, layout: TiffLayout, offset: int
) -> tuple[dict[int, IfdEntry], int]:
    """The entries of the IFD at ``offset`` and the offset of the next one (0 at the end)."""
    if offset < 8 or offset >= source.size:
        raise FormatError(
            f"TIFF directory offset {offset} is outside the file ({source.size} bytes)"
        )
    window = source.read_at(offset, IFD_WINDOW)
    if len(window) < layout.count_size:
        raise FormatError(f"TIFF directory at offset {offset} is cut off")
    (count,) = struct.unpack(
        layout.byteorder + ("Q" if layout.bigtiff else "H"), window[: layout.count_size]
    )
    if count == 0 or count > MAX_IFD_ENTRIES:
        raise FormatError(f"TIFF directory at offset {offset} claims {count} entries")
    needed = layout.count_size + count * layout.entry_size + (8 if layout.bigtiff else 4)
    if len(window) < needed:
        window += source.read_at(offset + len(window), needed - len(window))
    if len(window) < needed:
        raise FormatError(f"TIFF directory at offset {offset} is cut off")
    entries = {}
    entry_format = layout.byteorder + ("HHQ" if layout.bigtiff else "HHI")
    head_size = 12 if layout.bigtiff else 8
    for index in range(count):
        start = layout.count_size + index * layout.entry_size
        tag, type_, value_count = struct.unpack(entry_format, window[start : start + head_size])
        entries[tag] = IfdEntry(
            tag, type_, value_count, window[start + head_size : start + layout.entry_size]
        )
    next_at = layout.count_size + count * layout.entry_size
    (next_offset,) = struct.unpack(
        layout.byteorder + layout.offset_format,
        window[next_at : next_at + (8 if layout.bigtiff else 4)],
    )
    return entries, next_offset


def entry_int(entry: IfdEntry | None, layout: TiffLayout) -> int | None:
    """A single inline integer value (SHORT/LONG/LONG8), else None."""
    if entry is None or entry.count != 1 or entry.type not in _INT_FORMATS:
        return None
    fmt = _INT_FORMATS[entry.type]
    return int(struct.unpack_from(layout.byteorder + fmt, entry.field)[0])


def entry_bytes(source: ByteSource, entry: IfdEntry, layout: TiffLayout, limit: int) -> bytes:
    """The raw value bytes of an entry (inline or at its offset), at most ``limit`` bytes."""
    size = _TYPE_SIZES.get(entry.type, 1) * entry.count
    if size <= len(entry.field):
        return entry.field[:size]
    (offset,) = struct.unpack(layout.byteorder + layout.offset_format, entry.field)
    return source.read_at(offset, min(size, limit))


def count_ifds(source: ByteSource, layout: TiffLayout, max_pages: int = 1_000_000) -> int:
    """Walk the IFD chain; raise :class:`FormatError` on a loop or an offset outside the file.

    Costs one small read per page: callers use it only when the whole file is cached.
    """
    seen: set[int] = set()
    offset = layout.first_ifd
    while offset:
        if offset in seen:
            raise FormatError(f"TIFF directory chain loops back to offset {offset} (corrupt file)")
        if len(seen) >= max_pages:
            raise FormatError(f"TIFF has more than {max_pages} directories")
        seen.add(offset)
        _, offset = read_ifd(source, layout, offset)
    return len(seen)

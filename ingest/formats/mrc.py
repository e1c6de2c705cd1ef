"""MRC2014 / CCP4 maps, image stacks and gzip/bzip2-compressed maps: header only.

mrcfile's own parser reads the 1024-byte header from a :class:`~storage.RangedFile`,
but we never let it touch the extended header or the data: mrcfile would read the whole
extended header (900 kB for an EPU micrograph) and allocate ``nsymbt`` bytes for it, however
large a corrupt file claims that to be. We read only the first FEI record, from the same
cached request as the header.
"""

from __future__ import annotations

import struct
import sys
import warnings
from typing import Any

import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter

from ingest.formats import mrc_extended
from ingest.formats.base import (
    HEAD_BYTES,
    FileFormat,
    FormatError,
    FormatResult,
    ThumbnailPlan,
    extension_of,
    finite_or_none,
    guarded,
    is_gain_name,
    quantity,
)
from ingest.formats.compressed import decompressed_prefix, gzip_trailer_size
from storage import RangedFile
from storage.base import ByteSource
from storage.sources import BytesSource, CachedSource, ranged_file

HEADER_SIZE = 1024
MAP_ID_OFFSET = 208
#: mode -> (dtype name, numpy dtype code, bytes per pixel; None for 4-bit packed)
MODES: dict[int, tuple[str, str, int | None]] = {
    0: ("int8", "i1", 1),
    1: ("int16", "i2", 2),
    2: ("float32", "f4", 4),
    3: ("complex_int16", "i2", 4),
    4: ("complex64", "c8", 8),
    6: ("uint16", "u2", 2),
    12: ("float16", "f2", 2),
    101: ("uint4", "u1", None),
}
MRC_EXTENSIONS = frozenset({".mrc", ".mrcs", ".map", ".ccp4", ".rec", ".st", ".ali", ".preali"})
#: Extensions that name single maps/images; a stack under any other name is reported as MRCS.
PLAIN_MRC_EXTENSIONS = frozenset({".mrc", ".map", ".ccp4", ".rec"})
#: No EM image or map comes near this many pixels along one axis.
MAX_DIMENSION = 1 << 24
#: Compressed maps: decompress at most this much to reach a thumbnail slice.
MAX_DECOMPRESSED_FOR_THUMBNAIL = 256 * 1024 * 1024


def row_bytes(mode: int, nx: int) -> int | None:
    """Bytes per image row; mode 101 packs two 4-bit pixels per byte, rows padded to a byte."""
    if mode not in MODES:
        return None
    itemsize = MODES[mode][2]
    return (nx + 1) // 2 if itemsize is None else nx * itemsize


def sniff(head: bytes, size: int | None, name_hint: str) -> tuple[bool, str]:
    """Is this an MRC header? ``MAP`` at byte 208, or (for old files without it, named like
    MRC) a header whose dimensions account for the file size exactly."""
    if len(head) < HEADER_SIZE:
        return False, f"too short for an MRC header ({len(head)} bytes)"
    if head[MAP_ID_OFFSET : MAP_ID_OFFSET + 3] == b"MAP":
        return True, "MRC 'MAP ' identifier at byte 208"
    if size is not None and extension_of(name_hint) in MRC_EXTENSIONS:
        for order in "<>":
            nx, ny, nz, mode = struct.unpack_from(order + "4i", head)
            (nsymbt,) = struct.unpack_from(order + "i", head, 92)
            rows = row_bytes(mode, nx)
            dims_ok = all(0 < n < MAX_DIMENSION for n in (nx, ny, nz)) and nsymbt >= 0
            if rows and dims_ok and HEADER_SIZE + nsymbt + rows * ny * nz == size:
                return True, "MRC header without 'MAP ' whose dimensions match the file size"
    return False, "no MRC 'MAP ' identifier at byte 208"


class _HeaderOnly(MrcInterpreter):
    """mrcfile's header parser, read-only: no extended header, no data, never a write."""

    def __init__(self, stream: RangedFile):
        super().__init__(permissive=True)
        self._read_only = True
        self._iostream = stream
        self._read_header()
        self._extended_header = np.empty(0, dtype="V1")


def _parse_header(stream: RangedFile) -> tuple[np.recarray, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        interpreter = _HeaderOnly(stream)
        header = interpreter.header.copy()
        interpreter.close()
    return header, [str(item.message) for item in caught]


@guarded("MRC header", FileFormat.MRC)
def extract(source: ByteSource, name_hint: str = "") -> FormatResult:
    """Header, extended-header acquisition values and size check of an uncompressed MRC."""
    cached = source if isinstance(source, CachedSource) else CachedSource(source)
    stream = ranged_file(cached)
    if source.size < HEADER_SIZE:
        raise FormatError(f"file is too short for an MRC header ({source.size} bytes, need 1024)")
    header, notes = _parse_header(stream)
    result = _result(header, name_hint, notes, compression=None, file_size=source.size)
    _read_extended(result, header, stream)
    if "expected_size" in result.header:
        _check_size(result, source.size)
    return result


@guarded("compressed MRC header", FileFormat.MRC_GZ)
def extract_compressed(source: ByteSource, codec: str, name_hint: str = "") -> FormatResult:
    """The same for ``.map.gz``/``.mrc.bz2``: only the first kilobytes are decompressed."""
    head = decompressed_prefix(source, codec, HEAD_BYTES)
    if len(head) < HEADER_SIZE:
        raise FormatError(
            f"the decompressed stream is too short for an MRC header ({len(head)} bytes)"
        )
    memory = CachedSource(BytesSource(head))
    stream = ranged_file(memory)
    header, notes = _parse_header(stream)
    result = _result(header, name_hint, notes, compression=codec, file_size=source.size)
    result.format = FileFormat.MRC_GZ if codec == "gzip" else FileFormat.MRC_BZ2
    _read_extended(result, header, stream)
    expected = result.header.get("expected_size")
    if codec == "gzip" and expected is not None:
        isize = gzip_trailer_size(source)
        if isize is not None and isize != expected % 2**32:
            result.errors.append(
                f"size mismatch: the header implies {expected} uncompressed bytes, "
                f"the gzip trailer records {isize} (modulo 4 GiB): truncated or corrupt"
            )
    return result


def format_for(name_hint: str, ispg: int, nz: int) -> FileFormat:
    if is_gain_name(name_hint):
        return FileFormat.GAIN_REF
    extension = extension_of(name_hint)
    if extension == ".mrcs" or (ispg == 0 and nz > 1 and extension not in PLAIN_MRC_EXTENSIONS):
        return FileFormat.MRCS
    return FileFormat.MRC


def _data_kind(ispg: int, nz: int) -> str:
    if 401 <= ispg <= 630:
        return "volume_stack"
    if ispg == 0:
        return "image" if nz == 1 else "image_stack"
    return "volume"


def _byte_order(header: np.recarray) -> str:
    order = header.mode.dtype.byteorder
    if order == "=":
        order = "<" if sys.byteorder == "little" else ">"
    return "big" if order == ">" else "little"


def _xyz(record: Any, unit: str) -> dict[str, Any]:
    return {axis: quantity(record[axis], unit) for axis in ("x", "y", "z")}


def _voxel_size(header: np.recarray) -> dict[str, Any]:
    """cella / m per axis; an unset cell (0) or sampling means "unknown", not zero."""
    sizes = {}
    for axis, sampling in (("x", "mx"), ("y", "my"), ("z", "mz")):
        cell, count = float(header.cella[axis]), int(header[sampling])
        sizes[axis] = quantity(cell / count, "A") if cell > 0 and count > 0 else None
    return sizes


def _statistics(header: np.recarray) -> dict[str, float | None]:
    """dmin/dmax/dmean/rms; MRC2014 marks unknown statistics with dmax < dmin and rms < 0."""
    stats = {key: finite_or_none(header[key]) for key in ("dmin", "dmax", "dmean", "rms")}
    if stats["dmin"] is not None and stats["dmax"] is not None and stats["dmax"] < stats["dmin"]:
        stats["dmin"] = stats["dmax"] = stats["dmean"] = None
    if stats["rms"] is not None and stats["rms"] < 0:
        stats["rms"] = None
    return stats


def _labels(header: np.recarray) -> list[str]:
    texts = (bytes(label).decode("ascii", "replace").strip(" \0") for label in header.label)
    return [text for text in texts if text]


def _result(
    header: np.recarray,
    name_hint: str,
    notes: list[str],
    *,
    compression: str | None,
    file_size: int,
) -> FormatResult:
    nx, ny, nz, mode = (int(header[key]) for key in ("nx", "ny", "nz", "mode"))
    ispg, nsymbt = int(header.ispg), int(header.nsymbt)
    exttyp = bytes(header.exttyp).strip(b"\0 ")
    info: dict[str, Any] = {
        "container": "mrc",
        "compression": compression,
        "file_size": file_size,
        "byte_order": _byte_order(header),
        "nx": nx,
        "ny": ny,
        "nz": nz,
        "mode": mode,
        "dtype": MODES[mode][0] if mode in MODES else None,
        "data_kind": _data_kind(ispg, nz),
        "voxel_size": _voxel_size(header),
        "cella": _xyz(header.cella, "A"),
        "cellb": {
            angle: quantity(header.cellb[angle], "deg") for angle in ("alpha", "beta", "gamma")
        },
        "origin": _xyz(header.origin, "A"),
        **{key: int(header[key]) for key in ("nxstart", "nystart", "nzstart", "mx", "my", "mz")},
        **{key: int(header[key]) for key in ("mapc", "mapr", "maps", "ispg", "nversion")},
        **_statistics(header),
        "labels": _labels(header),
        "exttyp": exttyp.decode("ascii", "replace") if exttyp.isascii() and exttyp else None,
        "nsymbt": nsymbt,
        "data_offset": HEADER_SIZE + nsymbt,
        "extended_header": None,
        "acquisition": {},
    }
    result = FormatResult(format=format_for(name_hint, ispg, nz), header=info, warnings=list(notes))
    _validate(result, header)
    return result


def _validate(result: FormatResult, header: np.recarray) -> None:
    info = result.header
    nx, ny, nz, mode, nsymbt = info["nx"], info["ny"], info["nz"], info["mode"], info["nsymbt"]
    if min(nx, ny, nz) <= 0:
        result.errors.append(f"invalid dimensions nx={nx}, ny={ny}, nz={nz}: all must be positive")
    elif max(nx, ny, nz) >= MAX_DIMENSION:
        result.errors.append(f"implausible dimensions nx={nx}, ny={ny}, nz={nz}")
    if mode not in MODES:
        result.errors.append(f"unsupported MRC mode {mode} (known: {', '.join(map(str, MODES))})")
    if nsymbt < 0:
        result.errors.append(f"negative extended header size nsymbt={nsymbt}")
    elif info["compression"] is None and HEADER_SIZE + nsymbt > info["file_size"]:
        result.errors.append(
            f"extended header size nsymbt={nsymbt} is larger than the file ({info['file_size']} bytes)"
        )
    if result.errors:
        return
    rows = row_bytes(mode, nx)
    assert rows is not None
    info["expected_size"] = HEADER_SIZE + nsymbt + rows * ny * nz
    if info["data_kind"] == "volume_stack" and (info["mz"] <= 0 or nz % info["mz"]):
        result.warnings.append(f"volume stack: nz={nz} is not a multiple of mz={info['mz']}")
    result.thumbnail_plan = _plan(info, rows)


def _plan(info: dict[str, Any], rows: int) -> ThumbnailPlan | None:
    """The one section worth showing: the image, a movie's first frame, a volume's middle."""
    kind, nz, mz = info["data_kind"], info["nz"], info["mz"]
    section = {"volume": nz // 2, "volume_stack": (mz // 2 if 0 < mz <= nz else nz // 2)}.get(
        kind, 0
    )
    length = rows * info["ny"]
    offset = info["data_offset"] + section * length
    limit = MAX_DECOMPRESSED_FOR_THUMBNAIL if info["compression"] else info["file_size"]
    if offset + length > limit:
        return None
    mode = info["mode"]
    order = ">" if info["byte_order"] == "big" else "<"
    pixel_format = {3: "complex_int16", 101: "packed4"}.get(mode, "plain")
    return ThumbnailPlan(
        kind="raw_slice",
        width=info["nx"],
        height=info["ny"],
        offset=offset,
        length=length,
        dtype=order + MODES[mode][1],
        pixel_format=pixel_format,
        compression=info["compression"],
        description=f"section {section} of {nz}",
    )


def _read_extended(result: FormatResult, header: np.recarray, stream: RangedFile) -> None:
    """Only the bytes that matter: the first FEI record, or SERI's first section."""
    info = result.header
    exttyp, nsymbt = bytes(header.exttyp), info["nsymbt"]
    if nsymbt <= 0 or any("nsymbt" in error for error in result.errors):
        return
    order = ">" if info["byte_order"] == "big" else "<"
    if exttyp in mrc_extended.FEI_TYPES:
        size = mrc_extended.fei_record_size(exttyp)
        stream.seek(HEADER_SIZE)
        raw = stream.read(min(size, nsymbt))
        ext_info, acquisition, notes = mrc_extended.parse_fei_record(raw, exttyp, order)
        records = nsymbt // ext_info["record_size"] if ext_info else 0
        info["extended_header"] = {"type": exttyp.decode(), **ext_info, "records": records}
        info["acquisition"].update(acquisition)
        result.warnings.extend(notes)
    elif exttyp == b"SERI":
        stream.seek(0)
        raw_header = stream.read(HEADER_SIZE)
        ext_raw = stream.read(min(nsymbt, 64))
        ext_info, acquisition = mrc_extended.parse_seri(raw_header, ext_raw, nsymbt, order)
        info["extended_header"] = {"type": "SERI", **ext_info}
        info["acquisition"].update(acquisition)
    else:
        info["extended_header"] = {"type": info["exttyp"], "size": nsymbt}


def _check_size(result: FormatResult, actual: int) -> None:
    expected = result.header["expected_size"]
    if actual < expected:
        result.errors.append(
            f"truncated: expected {expected} bytes, found {actual} "
            f"(the header promises {expected - actual} more bytes than the file holds)"
        )
    elif actual > expected:
        result.warnings.append(
            f"trailing bytes: expected {expected} bytes, found {actual} ({actual - expected} extra)"
        )

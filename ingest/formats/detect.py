"""What kind of file is this? Magic bytes and structure first, the name only as a hint.

Depositors rename files, EPU writes ``.mrc`` movies and ``.tiff`` gain references, and EER is
a TIFF underneath, so an extension alone decides nothing. Detection reads the first 4 KiB
(plus the first TIFF directory, or the first decompressed kilobyte of a gzip/bzip2 file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.formats import mrc
from ingest.formats.base import FileFormat, FormatError, extension_of, is_gain_name
from ingest.formats.compressed import codec_of, decompressed_prefix
from ingest.formats.tiffstruct import (
    COMPRESSION,
    EER_COMPRESSIONS,
    EER_METADATA_TAG,
    TiffLayout,
    entry_bytes,
    entry_int,
    parse_tiff_header,
    read_ifd,
)
from storage.base import ByteSource

DETECT_BYTES = 4096
TIFF_EXTENSIONS = frozenset({".tif", ".tiff", ".eer", ".gain"})
# A DOCTYPE may carry an internal subset in brackets (entity declarations: hostile XML does).
_XML_PROLOG = re.compile(
    rb"\s*(<\?xml[^>]*\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.DOTALL
)
_XML_ROOT = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)([^>]*)>")
_MDOC_KEYS = re.compile(
    r"^\s*(PixelSpacing|ImageFile)\s*=|^\s*\[(ZValue|FrameSet)\s*=", re.MULTILINE
)


@dataclass(frozen=True)
class Detection:
    """The format, the container holding it (``mrc``, ``tiff``, ``eer``, ``xml``, ``text``,
    ``empty``, ``unknown``), the compression codec, and why we decided so.

    ``problem`` is set when the bytes are unusable or contradict the name (an empty file, a
    ``.mrc`` without an MRC header, a corrupt gzip stream): ingest reports it as an error.
    """

    format: FileFormat
    container: str
    reason: str
    codec: str | None = None
    problem: str | None = None


def detect(source: ByteSource, name_hint: str = "") -> Detection:
    """Detect the format of ``source``; never raises for odd content."""
    if source.size == 0:
        return Detection(FileFormat.OTHER, "empty", "empty file", problem="empty file (0 bytes)")
    head = source.read_at(0, min(source.size, DETECT_BYTES))
    codec = codec_of(head)
    if codec:
        return _detect_compressed(source, codec, name_hint)
    layout = parse_tiff_header(head)
    if layout is not None:
        return _detect_tiff(source, name_hint, layout)
    is_mrc, why = mrc.sniff(head, source.size, name_hint)
    if is_mrc:
        return _mrc_detection(head, name_hint, why)
    found = _detect_xml(head) or _detect_text(head, name_hint)
    if found is not None and (found.format != FileFormat.OTHER or not _claims_binary(name_hint)):
        return found
    return _unknown(name_hint, why)


def _claims_binary(name_hint: str) -> bool:
    return extension_of(name_hint) in mrc.MRC_EXTENSIONS | TIFF_EXTENSIONS


def detect_format(source: ByteSource, name_hint: str = "") -> FileFormat:
    return detect(source, name_hint).format


def _unknown(name_hint: str, why: str) -> Detection:
    extension = extension_of(name_hint)
    if extension in mrc.MRC_EXTENSIONS:
        problem = f"named like an MRC file ({extension}) but not one: {why}"
        return Detection(FileFormat.OTHER, "unknown", problem, problem=problem)
    if extension in TIFF_EXTENSIONS:
        problem = f"named like a TIFF file ({extension}) but has no TIFF header"
        return Detection(FileFormat.OTHER, "unknown", problem, problem=problem)
    return Detection(FileFormat.OTHER, "unknown", "unrecognised content")


def _mrc_detection(head: bytes, name_hint: str, why: str) -> Detection:
    order = "<" if head[212:214] in (b"\x44\x44", b"\x44\x41") else ">"
    nz = int.from_bytes(head[8:12], "little" if order == "<" else "big", signed=True)
    ispg = int.from_bytes(head[88:92], "little" if order == "<" else "big", signed=True)
    return Detection(mrc.format_for(name_hint, ispg, nz), "mrc", why)


def _detect_compressed(source: ByteSource, codec: str, name_hint: str) -> Detection:
    try:
        inner = decompressed_prefix(source, codec, mrc.HEADER_SIZE)
    except FormatError as exc:
        problem = f"{codec}-compressed, but {exc}"
        return Detection(FileFormat.OTHER, "unknown", problem, codec, problem)
    is_mrc, why = mrc.sniff(inner, None, name_hint)
    if is_mrc:
        fmt = FileFormat.MRC_GZ if codec == "gzip" else FileFormat.MRC_BZ2
        return Detection(fmt, "mrc", f"{codec}-compressed MRC ({why})", codec)
    inner_name = name_hint.rsplit(".", 1)[0] if "." in name_hint else name_hint
    if extension_of(inner_name) in mrc.MRC_EXTENSIONS:
        problem = f"named like a compressed MRC file but not one: {why} after {codec} decompression"
        return Detection(FileFormat.OTHER, "unknown", problem, codec, problem)
    return Detection(
        FileFormat.OTHER, "unknown", f"{codec}-compressed file that is not an MRC map", codec
    )


def _detect_tiff(source: ByteSource, name_hint: str, layout: TiffLayout) -> Detection:
    flavour = "BigTIFF" if layout.bigtiff else "TIFF"
    try:
        entries, _ = read_ifd(source, layout, layout.first_ifd)
    except FormatError as exc:
        return Detection(FileFormat.TIFF, "tiff", f"{flavour} header, but {exc}")
    compression = entry_int(entries.get(COMPRESSION), layout)
    if compression in EER_COMPRESSIONS:
        return Detection(FileFormat.EER, "eer", f"{flavour} with EER compression {compression}")
    metadata = entries.get(EER_METADATA_TAG)
    if metadata is not None and entry_bytes(source, metadata, layout, 16).startswith(b"<metadata>"):
        return Detection(
            FileFormat.EER, "eer", f"{flavour} with EER metadata (integrated first image)"
        )
    if is_gain_name(name_hint):
        return Detection(FileFormat.GAIN_REF, "tiff", f"{flavour} named like a gain reference")
    return Detection(FileFormat.TIFF, "tiff", f"{flavour} header")


def _detect_xml(head: bytes) -> Detection | None:
    text = _as_utf8(head)
    if text is None or not text.lstrip().startswith(b"<"):
        return None
    position = 0
    while match := _XML_PROLOG.match(text, position):
        position = match.end()
    root = _XML_ROOT.match(text, position)
    if root is None:
        return None
    local_name = root.group(1).rsplit(b":", 1)[-1]
    if local_name == b"MicroscopeImage" or b"Fei.SharedObjects" in root.group(2):
        return Detection(FileFormat.EPU_XML, "xml", "XML with an EPU MicroscopeImage root")
    return Detection(
        FileFormat.OTHER, "xml", f"XML with root <{local_name.decode('ascii', 'replace')}>"
    )


def _as_utf8(head: bytes) -> bytes | None:
    if head.startswith(b"\xef\xbb\xbf"):
        return head[3:]
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            usable = len(head[2:]) // 2 * 2
            return head[2 : 2 + usable].decode(encoding, "replace").encode("utf-8")
    return head


def _detect_text(head: bytes, name_hint: str) -> Detection | None:
    if b"\0" in head:
        return None
    text = head.decode("utf-8", "replace")
    if text.count("\ufffd") > max(2, len(text) // 100):
        return None
    if _MDOC_KEYS.search(text):
        return Detection(FileFormat.MDOC, "text", "text with SerialEM mdoc keys")
    if extension_of(name_hint) == ".mdoc":
        problem = "named like an mdoc file (.mdoc) but has no mdoc keys"
        return Detection(FileFormat.OTHER, "unknown", problem, problem=problem)
    return Detection(FileFormat.OTHER, "text", "plain text")

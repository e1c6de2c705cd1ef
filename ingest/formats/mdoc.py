"""SerialEM / Tomo5 ``.mdoc`` autodoc files: the text sidecar of a tilt series or movie.

An mdoc is ``Key = Value`` lines: global ones first, then sections opened by ``[ZValue = N]``
(one image of the stack), ``[FrameSet = N]`` (one movie) or ``[MontSection = N]`` (a montage
overview), and title lines ``[T = ...]`` that SerialEM fills with free text (camera,
microscope, tilt axis angle). The header keeps every value as text (``raw`` for the globals
and values derived from the titles, ``sections[i].raw`` per section), plus normalised fields
from the OSC-EM mapping table (source ``mdoc``) at file level and per section.

The files come from Windows acquisition PCs: bytes that are not UTF-8 (a Latin-1 "µ" in a
path) are read as Latin-1 with a warning rather than refused, and size is bounded.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.formats.base import FileFormat, FormatError, FormatResult, guarded
from metadata.mapping import DEFAULT_SCHEMA_VERSION, apply_fields, load_mapping, parse_number
from storage.base import ByteSource

#: Tilt-series mdocs are tens of KB; montages reach a few MB.
MAX_MDOC_BYTES = 16 * 1024 * 1024
#: Sections that are images of the dataset (a MontSection describes a montage overview).
IMAGE_SECTION_KINDS = frozenset({"ZValue", "FrameSet"})
MAX_WARNINGS = 20

_SECTION = re.compile(r"^\[\s*(?P<key>[^=\]]+?)\s*=\s*(?P<value>.*?)\s*\]$")
_PAIR = re.compile(r"^(?P<key>[^=\s][^=]*?)\s*=\s*(?P<value>.*)$")
_TILT_AXIS = re.compile(r"Tilt\s*axis\s*angle\s*=\s*(?P<angle>[-+]?\d+(?:\.\d+)?)", re.IGNORECASE)
_SERIALEM_TITLE = re.compile(
    r"SerialEM:\s+(?:Digitized\s+by\s+(?P<camera>.+?)\s+)?(?:on|Acquired\s+on)\s+"
    r"(?P<scope>.+?)\s+\d{1,2}-[A-Za-z]{3}-\d{2,4}\s+\d{1,2}:\d{2}:\d{2}"
)
#: Two tilts closer than this are the same angle written twice (a retaken image).
_SAME_TILT_DEGREES = 0.05


@dataclass
class MdocSection:
    kind: str
    index: str
    raw: dict[str, str] = field(default_factory=dict)


@dataclass
class MdocDocument:
    """The text structure of an mdoc, before any interpretation."""

    global_raw: dict[str, str] = field(default_factory=dict)
    titles: list[str] = field(default_factory=list)
    sections: list[MdocSection] = field(default_factory=list)
    skipped_lines: list[int] = field(default_factory=list)


@guarded("mdoc", FileFormat.MDOC)
def extract(source: ByteSource, name_hint: str = "") -> FormatResult:
    """Read one mdoc into ``header = {sidecar, <fields>, titles, sections, raw}``."""
    text, warnings = decode(read_bounded(source))
    document = parse_text(text)
    if not document.global_raw and not document.sections:
        raise FormatError("no 'Key = Value' lines: not a SerialEM/Tomo5 .mdoc file")
    if document.skipped_lines:
        warnings.append(
            f"{len(document.skipped_lines)} lines are neither 'Key = Value' nor '[Section]' "
            f"and were skipped (first: line {document.skipped_lines[0]})"
        )
    raw = {**document.global_raw, **derived_values(document)}
    table = load_mapping(DEFAULT_SCHEMA_VERSION, "mdoc")
    file_values, field_warnings = apply_fields(table, raw)
    sections = []
    for section in document.sections:
        values, section_warnings = apply_fields(table, section.raw)
        field_warnings.extend(f"[{section.kind} = {section.index}] {w}" for w in section_warnings)
        sections.append(
            {"kind": section.kind, "index": section.index, **values, "raw": section.raw}
        )
    header: dict[str, Any] = {"sidecar": "mdoc", "mapping": DEFAULT_SCHEMA_VERSION, **file_values}
    header.update(titles=document.titles, sections=sections, raw=raw)
    return FormatResult(
        format=FileFormat.MDOC, header=header, warnings=warnings + capped(field_warnings)
    )


def read_bounded(source: ByteSource, limit: int = MAX_MDOC_BYTES) -> bytes:
    """The whole file in one read, refusing empty and oversized files before reading."""
    if source.size == 0:
        raise FormatError("the file is empty")
    if source.size > limit:
        raise FormatError(
            f"the file has {source.size:,} bytes; mdoc files above {limit:,} bytes are refused"
        )
    data = source.read_at(0, source.size)
    if len(data) != source.size:
        raise FormatError(f"read {len(data):,} of {source.size:,} bytes: the file is truncated")
    return data


def decode(data: bytes) -> tuple[str, list[str]]:
    """Text of the file: UTF-8 (or UTF-16 with a byte-order mark), else Latin-1 with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as exc:
            raise FormatError(f"invalid UTF-16 text at byte {exc.start}") from None
    if b"\x00" in data:
        raise FormatError("the file contains NUL bytes: it is binary, not an mdoc text file")
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        warning = (
            f"the file is not valid UTF-8 (first bad byte {data[exc.start]:#04x} at offset "
            f"{exc.start}); it was read as Latin-1, so accented characters may be wrong"
        )
        return data.decode("latin-1"), [warning]


def parse_text(text: str) -> MdocDocument:
    """Split lines into globals, titles and sections; nothing is interpreted here."""
    document = MdocDocument()
    current: dict[str, str] = document.global_raw
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        section = _SECTION.match(line)
        if section:
            if section["key"] == "T":
                document.titles.append(section["value"])
            else:
                document.sections.append(MdocSection(section["key"], section["value"]))
                current = document.sections[-1].raw
            continue
        pair = _PAIR.match(line)
        if pair:
            current[pair["key"]] = pair["value"].strip()
        else:
            document.skipped_lines.append(number)
    return document


def derived_values(document: MdocDocument) -> dict[str, str]:
    """Values the mapping needs that no single line holds, as ``Derived.*`` raw text."""
    derived: dict[str, str] = {}
    software = software_of(document.titles)
    if software:
        derived["Derived.Software"] = software
    for title in document.titles:
        axis = _TILT_AXIS.search(title)
        if axis and "Derived.TiltAxisAngle" not in derived:
            derived["Derived.TiltAxisAngle"] = axis["angle"]
        names = _SERIALEM_TITLE.search(title)
        if names:
            if names["camera"]:
                derived.setdefault("Derived.CameraName", names["camera"].strip())
            derived.setdefault("Derived.MicroscopeName", names["scope"].strip())
    angles = tilt_angles(document.sections)
    derived["Derived.NumberOfTilts"] = str(len(angles))
    increment = tilt_increment(angles)
    if increment is not None:
        derived["Derived.TiltIncrement"] = repr(increment)
    return derived


def software_of(titles: Iterable[str]) -> str | None:
    """Which program wrote the file, from its titles (Tomo5 writes "Tomography")."""
    for title in titles:
        if "tomography" in title.lower():
            return "Tomo5"
        if "SerialEM" in title:
            return "SerialEM"
    return None


def tilt_angles(sections: Iterable[MdocSection]) -> list[float]:
    """Tilt angles of the image sections, in file order (unreadable ones skipped)."""
    angles = []
    for section in sections:
        if section.kind not in IMAGE_SECTION_KINDS or "TiltAngle" not in section.raw:
            continue
        try:
            angles.append(parse_number(section.raw["TiltAngle"]))
        except ValueError:
            continue
    return angles


def tilt_increment(angles: list[float]) -> float | None:
    """The tilt step: the median gap between neighbouring distinct angles.

    Robust to dose-symmetric order, retaken tilts and a skipped tilt, unlike
    ``(max - min) / n`` (which is also off by one).
    """
    ordered = sorted(angles)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False) if b - a > _SAME_TILT_DEGREES]
    # mdoc angles have 2-4 decimals; rounding to 6 only removes the noise of subtraction.
    return round(statistics.median(gaps), 6) if gaps else None


def capped(warnings: list[str]) -> list[str]:
    """Distinct warnings, at most :data:`MAX_WARNINGS` (a bad key repeats in every section)."""
    distinct = list(dict.fromkeys(warnings))
    if len(distinct) <= MAX_WARNINGS:
        return distinct
    return distinct[:MAX_WARNINGS] + [f"... and {len(distinct) - MAX_WARNINGS} more warnings"]

"""EPU per-movie XML: the .NET DataContract file EPU writes beside every movie.

The XML is flattened into ``raw``, a flat dict of dotted element paths without namespace
prefixes (``microscopeData.gun.AccelerationVoltage``); DataContract dictionaries
(``KeyValueOfstringanyType``) become ``<container>.<Key>`` (``CustomData.Dose``). The OSC-EM
mapping table (:mod:`metadata.mapping`, source ``epu``) then turns raw values into normalised
fields with fixed units, kept beside ``raw`` in the header.

Sidecars come from depositors' disks, so the XML is untrusted: it is parsed with defusedxml
and any DTD is refused (EPU never writes one; DTDs carry entity-expansion and external-entity
attacks), files above :data:`MAX_XML_BYTES` are refused before they are read, and the size of
the flattened result is capped.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as SafeElementTree

from ingest.formats.base import FileFormat, FormatError, FormatResult, guarded
from metadata.mapping import DEFAULT_SCHEMA_VERSION, apply_fields, load_mapping
from storage.base import ByteSource

#: A per-movie EPU XML is about 15 KB; anything this large is not one.
MAX_XML_BYTES = 16 * 1024 * 1024
#: Caps on the flattened dict, so that a hostile but well-formed file cannot fill a database row.
MAX_RAW_ENTRIES = 20_000
MAX_DEPTH = 64

ROOT_ELEMENT = "MicroscopeImage"
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_KEY_VALUE_PREFIX = "KeyValueOf"
_PIXEL_UNIT_KEY = "SpatialScale.pixelSize.x.unit._x003C_Symbol_x003E_k__BackingField"

#: EPU file names say what an image is; only ``data`` images are the movies of a dataset.
_KINDS = (
    ("data", re.compile(r"^FoilHole_.*_Data_.*\.xml$", re.IGNORECASE)),
    ("foilhole", re.compile(r"^FoilHole_.*\.xml$", re.IGNORECASE)),
    ("gridsquare", re.compile(r"^GridSquare_.*\.xml$", re.IGNORECASE)),
    ("atlas", re.compile(r"^Atlas.*\.xml$", re.IGNORECASE)),
)
NAVIGATION_KINDS = frozenset({"foilhole", "gridsquare", "atlas"})


@guarded("EPU XML", FileFormat.EPU_XML)
def extract(source: ByteSource, name_hint: str = "") -> FormatResult:
    """Read one EPU XML into ``header = {sidecar, epu_image_kind, <fields>, raw}``."""
    root = parse_xml(read_bounded(source))
    if local_name(root.tag) != ROOT_ELEMENT:
        raise FormatError(
            f"not an EPU image XML: the root element is <{local_name(root.tag)}>, "
            f"not <{ROOT_ELEMENT}>"
        )
    raw, warnings = flatten(root)
    if raw.get(_PIXEL_UNIT_KEY, "m") != "m":
        warnings.append(f"pixel size unit is {raw[_PIXEL_UNIT_KEY]!r}, expected metres")
    values, field_warnings = apply_fields(load_mapping(DEFAULT_SCHEMA_VERSION, "epu"), raw)
    header: dict[str, Any] = {
        "sidecar": "epu",
        "mapping": DEFAULT_SCHEMA_VERSION,
        "epu_image_kind": image_kind(name_hint),
    }
    header.update(name_the_microscope(values))
    header["raw"] = raw
    return FormatResult(
        format=FileFormat.EPU_XML, header=header, warnings=warnings + field_warnings
    )


#: EPU writes the microscope's computer name (``TITAN52339260``: platform and serial number)
#: as its InstrumentModel. The platforms EPU drives, by that prefix, as people name them.
_PLATFORMS = {
    "TITAN": "Titan Krios",
    "KRIOS": "Krios",
    "TALOS": "Talos Arctica",
    "ARCTICA": "Talos Arctica",
    "GLACIOS": "Glacios",
    "TUNDRA": "Tundra",
    "TECNAI": "Tecnai",
}
_SERIAL_NAME = re.compile(r"^([A-Za-z]+)[-_ ]?(\d{4,})$")


def microscope_name(value: Any) -> tuple[Any, str]:
    """``TITAN52339260`` -> ``("Titan Krios", "52339260")``; anything else as it is, no
    serial. The serial number is kept beside the model, never in its place."""
    if not isinstance(value, str):
        return value, ""
    match = _SERIAL_NAME.match(value.strip())
    if match is None or match.group(1).upper() not in _PLATFORMS:
        return value, ""
    return _PLATFORMS[match.group(1).upper()], match.group(2)


def name_the_microscope(values: dict[str, Any]) -> dict[str, Any]:
    """Normalised EPU values with the model split from its serial number (in place)."""
    model, serial = microscope_name(values.get("microscope_model"))
    if serial:
        values["microscope_model"], values["microscope_serial"] = model, serial
    return values


def read_bounded(source: ByteSource, limit: int = MAX_XML_BYTES) -> bytes:
    """The whole file in one read, refusing empty and oversized files before reading."""
    if source.size == 0:
        raise FormatError("the file is empty")
    if source.size > limit:
        raise FormatError(
            f"the file has {source.size:,} bytes; EPU XML files above {limit:,} bytes are refused"
        )
    data = source.read_at(0, source.size)
    if len(data) != source.size:
        raise FormatError(f"read {len(data):,} of {source.size:,} bytes: the file is truncated")
    return data


def parse_xml(data: bytes) -> Element:
    """Parse untrusted XML safely; every refusal is a :class:`FormatError` in plain words."""
    try:
        root: Element = SafeElementTree.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden:
        raise FormatError(
            "refused: the XML declares a document type (DTD); EPU files never do, and DTDs "
            "allow entity-expansion and external-entity attacks"
        ) from None
    except EntitiesForbidden:
        raise FormatError("refused: the XML declares entities") from None
    except ExternalReferenceForbidden:
        raise FormatError("refused: the XML refers to an external resource") from None
    except ParseError as exc:
        raise FormatError(f"malformed XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # expat: an encoding it has no codec for
        raise FormatError(f"the XML declares an encoding that cannot be read ({exc})") from None
    return root


def local_name(tag: Any) -> str:
    """``{namespace}name`` -> ``name`` (EPU's namespaces carry no meaning for the values)."""
    return str(tag).rpartition("}")[2]


def flatten(root: Element) -> tuple[dict[str, str], list[str]]:
    """Leaf texts by dotted path below the root; ``(raw, warnings)``."""
    flattener = _Flattener()
    flattener.walk(root, "", 0)
    warnings = []
    if flattener.truncated:
        warnings.append(f"only the first {MAX_RAW_ENTRIES:,} values were kept")
    return flattener.raw, warnings


class _Flattener:
    """Walks the tree once; repeated sibling names get ``[1]``, ``[2]`` suffixes."""

    def __init__(self) -> None:
        self.raw: dict[str, str] = {}
        self.truncated = False

    def walk(self, element: Element, path: str, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise FormatError(f"the XML is nested deeper than {MAX_DEPTH} levels")
        children = list(element)
        if not children:
            self._leaf(element, path)
        elif all(local_name(child.tag).startswith(_KEY_VALUE_PREFIX) for child in children):
            self._dictionary(children, path, depth)
        else:
            seen: dict[str, int] = {}
            for child in children:
                name = local_name(child.tag)
                count = seen.get(name, 0)
                seen[name] = count + 1
                child_path = f"{path}.{name}" if path else name
                self.walk(child, f"{child_path}[{count}]" if count else child_path, depth + 1)

    def _dictionary(self, pairs: list[Element], path: str, depth: int) -> None:
        """.NET DataContract dictionaries: ``<KeyValueOf…><Key>k</Key><Value>v</Value>``."""
        for pair in pairs:
            key = value = None
            for part in pair:
                if local_name(part.tag) == "Key":
                    key = (part.text or "").strip()
                elif local_name(part.tag) == "Value":
                    value = part
            if key and value is not None:
                self.walk(value, f"{path}.{key}" if path else key, depth + 1)

    def _leaf(self, element: Element, path: str) -> None:
        if element.get(_XSI_NIL) == "true" or not path:
            return
        text = (element.text or "").strip()
        if not text:
            return
        if len(self.raw) >= MAX_RAW_ENTRIES:
            self.truncated = True
            return
        self.raw[path] = text


def image_kind(name_hint: str) -> str:
    """``data`` (a movie), ``foilhole``/``gridsquare``/``atlas`` (navigation) or ``unknown``."""
    base = name_hint.replace("\\", "/").rsplit("/", 1)[-1]
    for kind, pattern in _KINDS:
        if pattern.match(base):
            return kind
    return "unknown"

"""Mapping tables from instrument sidecar files (EPU XML, SerialEM mdoc) to OSC-EM, as data.

Each schema version has a folder (``oscem_v1_0_2/``) with one YAML table per source. A table
has two parts, joined by field name:

``fields``
    per file: where a value sits in the parser's flat ``raw`` dict (``path``, or a list of
    paths tried in order; ``Key#1`` takes the second whitespace-separated token of a value such
    as mdoc's ``ImageShift = 1.7 0.2``), its ``type`` (float, int, str, bool, datetime,
    positive_flag), and for numbers the ``source_unit`` in the file and the ``unit`` kept in
    the normalised header.
``targets``
    per dataset: which OSC-EM path a field feeds (``target``, dotted), how values of many
    files combine (``aggregate``: first, min, max, mean, any, set, count, count_files), how the
    result is written (``output``: quantity, number, int, str, bool, datetime, objects,
    used_instrument), its ``unit``, and optionally the ``techniques`` it applies to. A target
    may take a ``parameter`` of the aggregation (technique, cs) instead of a field.

``requires`` names objects that OSC-EM only accepts whole (an energy filter needs ``used`` and
``width_energy_filter``); an incomplete one is dropped rather than written invalid.

Keeping the mapping as data means a new OSC-EM version is a new folder, reviewed as a table,
not a code change scattered through two parsers and an aggregator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from metadata.units import UnknownUnit, clean_float, conversion_factor, parse_unit

DEFAULT_SCHEMA_VERSION = "1.0.2"

FIELD_TYPES = frozenset({"float", "int", "str", "bool", "datetime", "positive_flag"})
AGGREGATES = frozenset({"first", "min", "max", "mean", "any", "set", "count", "count_files"})
OUTPUTS = frozenset(
    {"quantity", "number", "int", "str", "bool", "datetime", "objects", "used_instrument"}
)
TECHNIQUES = frozenset({"spa", "subtomo", "cellular_tomo", "env_tomo", "general"})

#: Values that instruments write for "nothing here" (EPU: ``Aperture[OBJ].Name = None``).
NULL_TOKENS = frozenset({"", "none", "null", "nil", "n/a", "na"})

_FIELD_KEYS = frozenset({"path", "type", "source_unit", "unit", "description"})
_TARGET_KEYS = frozenset(
    {"target", "field", "parameter", "aggregate", "output", "unit", "techniques", "item_key"}
)
_TOP_KEYS = frozenset({"schema", "schema_version", "source", "description", "fields", "targets"})
_TOP_KEYS_OPTIONAL = frozenset({"requires"})
_PATH_PART = re.compile(r"^(?P<name>[a-z_][a-z0-9_]*)(?:\[(?P<index>\d+)\])?$")


class MappingError(ValueError):
    """A mapping table is missing or malformed (a bug in the table, caught when it loads)."""


@dataclass(frozen=True)
class FieldRule:
    """Where one normalised field comes from in a parser's raw dict, and in which unit."""

    name: str
    paths: tuple[str, ...]
    type: str
    source_unit: str | None = None
    unit: str | None = None
    factor: float = 1.0


@dataclass(frozen=True)
class TargetRule:
    """How one OSC-EM path is filled from a field (or a parameter) over many files."""

    target: str
    aggregate: str
    output: str
    field: str | None = None
    parameter: str | None = None
    unit: str | None = None
    factor: float = 1.0
    techniques: frozenset[str] | None = None
    item_key: str | None = None

    def applies_to(self, technique: str) -> bool:
        return self.techniques is None or technique in self.techniques


@dataclass(frozen=True)
class MappingTable:
    """One source's table for one OSC-EM schema version."""

    schema_version: str
    source: str
    fields: tuple[FieldRule, ...]
    targets: tuple[TargetRule, ...]
    requires: Mapping[str, tuple[str, ...]]

    def field(self, name: str) -> FieldRule:
        for rule in self.fields:
            if rule.name == name:
                return rule
        raise KeyError(name)


# ---------------------------------------------------------------------------------------------
# Loading


def _folder(schema_version: str) -> str:
    if not re.fullmatch(r"\d+(\.\d+)*", schema_version):
        raise MappingError(f"invalid schema version {schema_version!r}")
    return "oscem_v" + schema_version.replace(".", "_")


def available_mappings() -> list[tuple[str, str]]:
    """``(schema_version, source)`` for every table shipped with the project."""
    found = []
    for folder in resources.files(__name__).iterdir():
        if folder.is_dir() and folder.name.startswith("oscem_v"):
            version = folder.name.removeprefix("oscem_v").replace("_", ".")
            for entry in folder.iterdir():
                if entry.name.endswith(".yaml"):
                    found.append((version, entry.name.removesuffix(".yaml")))
    return sorted(found)


@lru_cache(maxsize=32)
def load_mapping(schema_version: str, source: str) -> MappingTable:
    """The table for ``source`` ("epu", "mdoc") and an OSC-EM version; checked as it loads."""
    if not re.fullmatch(r"[a-z0-9_]+", source):
        raise MappingError(f"invalid mapping source {source!r}")
    resource = resources.files(__name__) / _folder(schema_version) / f"{source}.yaml"
    try:
        text = resource.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError) as exc:
        known = ", ".join(f"{v}/{s}" for v, s in available_mappings())
        raise MappingError(
            f"no mapping for OSC-EM {schema_version} from {source!r} (available: {known})"
        ) from exc
    return parse_mapping(yaml.safe_load(text), where=f"{_folder(schema_version)}/{source}.yaml")


def parse_mapping(data: Any, *, where: str = "<mapping>") -> MappingTable:
    """Check and compile a table given as plain data (what ``yaml.safe_load`` returns)."""
    if not isinstance(data, dict):
        raise MappingError(f"{where}: a mapping table is a YAML mapping")
    _no_unknown_keys(data, _TOP_KEYS | _TOP_KEYS_OPTIONAL, where)
    missing = _TOP_KEYS - {"description"} - set(data)
    if missing:
        raise MappingError(f"{where}: missing {sorted(missing)}")
    if not isinstance(data["fields"], dict) or not isinstance(data["targets"], list):
        raise MappingError(f"{where}: 'fields' is a mapping and 'targets' a list")
    fields = tuple(
        _field_rule(name, spec, f"{where}: field {name!r}") for name, spec in data["fields"].items()
    )
    by_name = {rule.name: rule for rule in fields}
    targets = tuple(
        _target_rule(spec, by_name, f"{where}: target #{number}")
        for number, spec in enumerate(data["targets"], start=1)
    )
    requires = data.get("requires") or {}
    if not isinstance(requires, dict) or not all(
        isinstance(members, list) and "[" not in path for path, members in requires.items()
    ):
        raise MappingError(f"{where}: 'requires' maps an object path to a list of members")
    return MappingTable(
        schema_version=str(data["schema_version"]),
        source=str(data["source"]),
        fields=fields,
        targets=targets,
        requires={path: tuple(members) for path, members in requires.items()},
    )


def _no_unknown_keys(spec: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise MappingError(f"{where}: unknown keys {sorted(unknown)}")


def _checked_unit(unit: Any, where: str) -> str | None:
    if unit is None:
        return None
    try:
        parse_unit(str(unit))
    except UnknownUnit as exc:
        raise MappingError(f"{where}: {exc}") from exc
    return str(unit)


def _field_rule(name: str, spec: Any, where: str) -> FieldRule:
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: expected a mapping")
    _no_unknown_keys(spec, _FIELD_KEYS, where)
    paths = spec.get("path")
    paths = [paths] if isinstance(paths, str) else paths
    if not paths or not all(isinstance(path, str) and path for path in paths):
        raise MappingError(f"{where}: 'path' is a raw key or a list of raw keys")
    kind = spec.get("type")
    if kind not in FIELD_TYPES:
        raise MappingError(f"{where}: type {kind!r} is not one of {sorted(FIELD_TYPES)}")
    source_unit = _checked_unit(spec.get("source_unit"), where)
    unit = _checked_unit(spec.get("unit"), where)
    if (source_unit or unit) and kind != "float":
        raise MappingError(f"{where}: only float fields carry units")
    factor = 1.0
    if source_unit and unit:
        try:
            factor = conversion_factor(source_unit, unit)
        except ValueError as exc:
            raise MappingError(f"{where}: {exc}") from exc
    elif source_unit or unit:
        raise MappingError(f"{where}: give both 'source_unit' and 'unit'")
    return FieldRule(name, tuple(paths), kind, source_unit, unit, factor)


def _target_rule(spec: Any, fields: Mapping[str, FieldRule], where: str) -> TargetRule:
    if not isinstance(spec, dict):
        raise MappingError(f"{where}: expected a mapping")
    _no_unknown_keys(spec, _TARGET_KEYS, where)
    target = spec.get("target")
    if not isinstance(target, str):
        raise MappingError(f"{where}: 'target' (an OSC-EM path) is required")
    split_path(target)
    where = f"{where} ({target})"
    aggregate, output = spec.get("aggregate", "first"), spec.get("output")
    if aggregate not in AGGREGATES:
        raise MappingError(f"{where}: aggregate {aggregate!r} is not one of {sorted(AGGREGATES)}")
    if output not in OUTPUTS:
        raise MappingError(f"{where}: output {output!r} is not one of {sorted(OUTPUTS)}")
    field_name, parameter = spec.get("field"), spec.get("parameter")
    if (field_name is None) == (parameter is None) and aggregate != "count_files":
        raise MappingError(f"{where}: give exactly one of 'field' and 'parameter'")
    if field_name is not None and field_name not in fields:
        raise MappingError(f"{where}: unknown field {field_name!r}")
    unit = _checked_unit(spec.get("unit"), where)
    if (output == "quantity") != (unit is not None):
        raise MappingError(f"{where}: a quantity output needs a unit, other outputs none")
    factor = _target_factor(fields.get(field_name or ""), unit, where)
    techniques = spec.get("techniques")
    if techniques is not None and not set(techniques) <= TECHNIQUES:
        raise MappingError(f"{where}: techniques must be among {sorted(TECHNIQUES)}")
    if output == "objects" and not spec.get("item_key"):
        raise MappingError(f"{where}: an 'objects' output needs an 'item_key'")
    return TargetRule(
        target=target,
        aggregate=aggregate,
        output=output,
        field=field_name,
        parameter=parameter,
        unit=unit,
        factor=factor,
        techniques=frozenset(techniques) if techniques is not None else None,
        item_key=spec.get("item_key"),
    )


def _target_factor(field: FieldRule | None, unit: str | None, where: str) -> float:
    """Fields keep their own unit; a target may ask for another one of the same dimension."""
    if field is None or unit is None:
        return 1.0
    if field.unit is None:
        raise MappingError(f"{where}: field {field.name!r} has no unit to convert from")
    try:
        return conversion_factor(field.unit, unit)
    except ValueError as exc:
        raise MappingError(f"{where}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Applying the per-file part


def raw_lookup(raw: Mapping[str, Any], path: str) -> str | None:
    """The raw text at ``path``; ``Key#n`` is the n-th whitespace-separated token of ``Key``."""
    key, _, index = path.partition("#")
    value = raw.get(key)
    if value is None:
        return None
    text = str(value).strip()
    if index:
        tokens = text.split()
        position = int(index)
        return tokens[position] if position < len(tokens) else None
    return text


def apply_fields(table: MappingTable, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Normalise one raw record: ``({field: value in the field's unit}, [warnings])``.

    Values are JSON-safe (datetimes become ISO 8601 strings) so that a header can be stored
    as is. A value that does not parse is left out with a warning naming the raw key.
    """
    values: dict[str, Any] = {}
    warnings: list[str] = []
    for rule in table.fields:
        for path in rule.paths:
            text = raw_lookup(raw, path)
            if text is None or text.lower() in NULL_TOKENS:
                continue
            try:
                values[rule.name] = convert_text(text, rule)
            except ValueError as exc:
                warnings.append(f"{path}: {exc}")
                continue
            break
    return values, warnings


def convert_text(text: str, rule: FieldRule) -> Any:
    """One raw text as the rule's type (and unit); ``ValueError`` with a short reason if not."""
    if rule.type == "str":
        return text
    if rule.type == "bool":
        return parse_bool(text)
    if rule.type == "datetime":
        return parse_datetime(text).isoformat()
    number = parse_number(text)
    if rule.type == "positive_flag":
        return number > 0
    if rule.type == "int":
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number")
        return int(number)
    # clean_float: -4e-7 m is -400 nm, not -399.99999999999994.
    return number if rule.factor == 1.0 else clean_float(number * rule.factor)


def parse_number(text: str) -> float:
    """A finite float; instruments write NaN for unset values, and JSON cannot carry it."""
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    return number


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes", "on"}:
        return True
    if lowered in {"false", "0", "no", "off"}:
        return False
    raise ValueError(f"{text[:40]!r} is not true/false")


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_SERIALEM_DATE = re.compile(
    r"^(?:(?P<d1>\d{1,2})-(?P<m1>[A-Za-z]{3})-(?P<y1>\d{2}|\d{4})"
    r"|(?P<y2>\d{4})-(?P<m2>[A-Za-z]{3})-(?P<d2>\d{1,2}))"
    r"\s+(?P<H>\d{1,2}):(?P<M>\d{2}):(?P<S>\d{2})$"
)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 (EPU) or SerialEM's ``03-May-23  13:59:32`` (local time, no zone, kept naive)."""
    text = text.strip()
    match = _SERIALEM_DATE.match(text)
    if match is None:
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text[:40]!r} is not a date and time") from None
    year = match["y1"] or match["y2"]
    month = _MONTHS.get((match["m1"] or match["m2"]).lower())
    if month is None:
        raise ValueError(f"{text!r} has an unknown month")
    full_year = int(year) + (2000 if len(year) == 2 else 0)
    return datetime(
        full_year, month, int(match["d1"] or match["d2"]), int(match["H"]), int(match["M"]),
        int(match["S"]),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Writing into a document


def split_path(target: str) -> list[tuple[str, int | None]]:
    """``"acquisition.detectors[0].name"`` -> ``[("acquisition", None), ("detectors", 0), ...]``."""
    parts = []
    for part in target.split("."):
        match = _PATH_PART.match(part)
        if match is None:
            raise MappingError(f"invalid OSC-EM path {target!r}")
        index = match["index"]
        parts.append((match["name"], int(index) if index is not None else None))
    return parts


def set_path(document: dict[str, Any], target: str, value: Any) -> None:
    """Put ``value`` at a dotted path, creating objects (and list items) on the way."""
    parts = split_path(target)
    node: Any = document
    for position, (name, index) in enumerate(parts):
        last = position == len(parts) - 1
        if index is None:
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
            continue
        items = node.setdefault(name, [])
        while len(items) <= index:
            items.append({})
        if last:
            items[index] = value
        else:
            node = items[index]


def get_path(document: Mapping[str, Any], target: str) -> Any:
    """The value at a dotted path, or None."""
    node: Any = document
    for name, index in split_path(target):
        if not isinstance(node, Mapping) or name not in node:
            return None
        node = node[name]
        if index is not None:
            if not isinstance(node, list) or index >= len(node):
                return None
            node = node[index]
    return node


def drop_incomplete(document: dict[str, Any], requires: Mapping[str, tuple[str, ...]]) -> list[str]:
    """Remove objects that lack a member OSC-EM requires; say which and why."""
    notes = []
    for target, members in requires.items():
        node = get_path(document, target)
        if not isinstance(node, dict):
            continue
        missing = [member for member in members if node.get(member) is None]
        if missing:
            _delete(document, target)
            notes.append(f"{target} left out: the files do not give {', '.join(missing)}")
    return notes


def _delete(document: dict[str, Any], target: str) -> None:
    """Remove a path, and every object that this leaves empty above it."""
    path = target
    while path:
        parent_path, _, name = path.rpartition(".")
        parent = get_path(document, parent_path) if parent_path else document
        if not isinstance(parent, dict):
            return
        parent.pop(name, None)
        if parent or not parent_path:
            return
        path = parent_path

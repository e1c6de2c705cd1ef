"""Search datasets by their metadata, unit-aware, and count facet values.

:func:`metadata_filter` narrows a Dataset queryset (already filtered by
``repository.access``) by :class:`Condition` s, e.g. pixel size between 0.8 and 1.2 Å::

    metadata_filter(qs, [Condition("acquisition.pixel_size", "range", (0.8, 1.2), "Å")])

Fields are those of the built-in schemas (:func:`searchable_fields`), written as dotted paths
without list markers (``acquisition.detectors.name`` matches any detector). Quantities are
compared on the ``valueSI`` stored beside each value, so 0.1 nm and 1 Å are the same pixel
size; ``=`` on a quantity allows a relative difference of 1e-9 (float conversions), and the
inclusive bounds of ``<=``, ``>=`` and ``range`` the same. Text: ``=`` is exact, ``contains``
case-insensitive; dates and date-times also compare with ``<``/``>``.

Lookups are Django JSONField key transforms, so the same code runs on SQLite and PostgreSQL
(where ``metadata #> '{...}'`` comparisons use the expression indexes and exact text matches the
GIN index of metadata migration 0002). Anything unknown (field, relation, unit, value) raises
ValidationFailed with a message naming it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from django.db import NotSupportedError, connection
from django.db.models import BooleanField, Count, Expression, F, Q, QuerySet
from django.db.models.fields.json import KT, KeyTransform
from django.db.models.functions import Substr

from openem.errors import ValidationFailed

from . import oscem, units
from .builtin import builtin_schemas
from .fields import SCALAR_KINDS, Kind, schema_fields
from .validation import converts_to, pint_unit, unit_is_known

REL_TOLERANCE = 1e-9
FACET_LIMIT = 20


class Relation(StrEnum):
    EQ = "="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    RANGE = "range"
    CONTAINS = "contains"


_ORDER_LOOKUPS = {Relation.LT: "lt", Relation.LE: "lte", Relation.GT: "gt", Relation.GE: "gte"}
_DATE_FORMATS = frozenset({"date", "date-time"})


@dataclass(frozen=True)
class Condition:
    field: str
    relation: str
    value: Any
    unit: str | None = None


@dataclass(frozen=True)
class SearchField:
    path: str  #: field path with list markers, e.g. ``acquisition.detectors[].name``
    kind: Kind
    label: str
    units: tuple[str, ...] = ()
    enum: tuple[Any, ...] | None = None
    format: str | None = None

    @property
    def in_list(self) -> bool:
        return "[]" in self.path

    @property
    def keys(self) -> list[str]:
        return self.path.replace("[]", "").split(".")


@lru_cache(maxsize=1)
def searchable_fields() -> dict[str, SearchField]:
    """Searchable fields of all built-in schemas, by dotted path without list markers.

    Inside lists only text is searchable (``=``/``contains`` on any item), one list deep."""
    found: dict[str, SearchField] = {}
    for builtin in builtin_schemas():
        for node in schema_fields(builtin.document).walk():
            if node.kind not in SCALAR_KINDS and node.kind is not Kind.QUANTITY:
                continue
            lists = node.path.count("[]")
            if lists > 1 or (lists == 1 and node.kind is not Kind.STRING):
                continue
            key = node.path.replace("[]", "")
            found.setdefault(
                key,
                SearchField(node.path, node.kind, node.label, node.units, node.enum, node.format),
            )
    return found


def _field(name: str) -> SearchField:
    key = name.strip().strip("/").replace("/", ".").replace("[]", "")
    found = searchable_fields().get(key)
    if found is None:
        raise ValidationFailed(
            f"unknown metadata field {name!r}: use a dotted path of the OSC-EM schemas, "
            "e.g. acquisition.pixel_size or instrument.microscope.model"
        )
    return found


def _relation(condition: Condition, allowed: Sequence[Relation], field: SearchField) -> Relation:
    try:
        relation = Relation(condition.relation)
    except ValueError:
        raise ValidationFailed(
            f"unknown relation {condition.relation!r}: use {', '.join(r.value for r in Relation)}"
        ) from None
    if relation not in allowed:
        raise ValidationFailed(
            f"{field.label} ({condition.field}) can be searched with "
            f"{', '.join(r.value for r in allowed)}, not {relation.value!r}"
        )
    return relation


def _number(value: Any, field: SearchField) -> float:
    if isinstance(value, bool):
        raise ValidationFailed(f"{field.label}: {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{field.label}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValidationFailed(f"{field.label}: {value!r} is not a finite number")
    return number


def _bounds(condition: Condition, field: SearchField) -> tuple[Any, Any]:
    value = condition.value
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValidationFailed(
            f"{field.label}: a range needs two values (low, high), not {value!r}"
        )
    return value[0], value[1]


def _key_transform(keys: Sequence[str]) -> KeyTransform:
    expression: Any = "metadata"
    for key in keys:
        expression = KeyTransform(key, expression)
    return expression


def _lookup(keys: Sequence[str], lookup: str, value: Any) -> Q:
    # Keys come from the schemas' property names, and as inner parts of the lookup they are
    # always read as JSON keys, never as lookups.
    return Q(**{"__".join(["metadata", *keys, lookup]): value})


def _loosened(bound: float, *, upward: bool) -> float:
    step = abs(bound) * REL_TOLERANCE
    return bound + step if upward else bound - step


def _numeric_filters(keys: list[str], relation: Relation, low: float, high: float) -> list[Any]:
    if relation in (Relation.EQ, Relation.RANGE):
        return [
            _lookup(keys, "gte", _loosened(low, upward=False)),
            _lookup(keys, "lte", _loosened(high, upward=True)),
        ]
    if relation is Relation.LE:
        return [_lookup(keys, "lte", _loosened(high, upward=True))]
    if relation is Relation.GE:
        return [_lookup(keys, "gte", _loosened(low, upward=False))]
    return [_lookup(keys, _ORDER_LOOKUPS[relation], low)]


def _quantity_filters(condition: Condition, field: SearchField) -> list[Any]:
    relation = _relation(condition, [r for r in Relation if r is not Relation.CONTAINS], field)
    unit = condition.unit or (field.units[0] if field.units else None)
    if not unit:
        raise ValidationFailed(f"{field.label}: give the unit of the value")
    if not unit_is_known(unit):
        raise ValidationFailed(f"unknown unit {unit!r} for {field.label}")
    if field.units and not converts_to(unit, field.units):
        raise ValidationFailed(
            f"{unit!r} is not a unit for {field.label.lower()} (use {', '.join(field.units)})"
        )
    raw = _bounds(condition, field) if relation is Relation.RANGE else (condition.value,) * 2
    low, high = (units.to_si(_number(v, field), pint_unit(unit))[0] for v in raw)
    if not (math.isfinite(low) and math.isfinite(high)):  # a finite value, overflowing in SI
        raise ValidationFailed(f"{field.label}: the value is too large")
    if low > high:
        raise ValidationFailed(f"{field.label}: the range starts above its end")
    return _numeric_filters([*field.keys, "valueSI"], relation, low, high)


def _plain_number_filters(condition: Condition, field: SearchField) -> list[Any]:
    relation = _relation(condition, [r for r in Relation if r is not Relation.CONTAINS], field)
    if condition.unit:
        raise ValidationFailed(f"{field.label} has no unit; search it without one")
    raw = _bounds(condition, field) if relation is Relation.RANGE else (condition.value,) * 2
    low, high = (_number(v, field) for v in raw)
    if field.kind is Kind.INTEGER and relation is Relation.EQ:
        return [_lookup(field.keys, "exact", low)]
    return _numeric_filters(field.keys, relation, low, high)


def _text_filters(condition: Condition, field: SearchField) -> list[Any]:
    ordered = field.format in _DATE_FORMATS and not field.in_list
    allowed = list(Relation) if ordered else [Relation.EQ, Relation.CONTAINS]
    relation = _relation(condition, allowed, field)
    if relation is Relation.RANGE:
        low, high = (str(v) for v in _bounds(condition, field))
        return [_lookup(field.keys, "gte", low), _lookup(field.keys, "lte", high)]
    value = condition.value
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field.label}: give some text to search for")
    if relation is Relation.EQ and field.enum and value not in field.enum:
        raise ValidationFailed(
            f"{field.label}: {value!r} is not one of {', '.join(map(str, field.enum))}"
        )
    if field.in_list:
        return [JsonListMatch(field.path, exact=relation is Relation.EQ, value=value)]
    if relation is Relation.CONTAINS:
        return [_lookup(field.keys, "icontains", value)]
    if relation is Relation.EQ:
        if connection.vendor == "postgresql":  # jsonb containment: served by the GIN index
            nested: Any = value
            for key in reversed(field.keys):
                nested = {key: nested}
            return [Q(metadata__contains=nested)]
        return [_lookup(field.keys, "exact", value)]
    return [_lookup(field.keys, _ORDER_LOOKUPS[relation], value)]


def _boolean_filters(condition: Condition, field: SearchField) -> list[Any]:
    _relation(condition, [Relation.EQ], field)
    value = condition.value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        value = value.lower() in ("true", "yes")
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field.label}: give true or false, not {condition.value!r}")
    return [_lookup(field.keys, "exact", value)]


def condition_filters(condition: Condition) -> list[Any]:
    """The filter expressions (all must hold) for one condition."""
    field = _field(condition.field)
    if field.kind is Kind.QUANTITY:
        return _quantity_filters(condition, field)
    if field.kind in (Kind.NUMBER, Kind.INTEGER):
        return _plain_number_filters(condition, field)
    if field.kind is Kind.BOOLEAN:
        return _boolean_filters(condition, field)
    return _text_filters(condition, field)


_CONDITION_RE = re.compile(r"^\s*([A-Za-z0-9_.\[\]/]+)\s*(<=|>=|=|<|>|~)\s*(.*?)\s*$", re.S)
_NUMBER = r"[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBERS_RE = re.compile(rf"^({_NUMBER})(?:\s*\.\.\s*({_NUMBER}))?\s*(.*)$")
CONDITION_SYNTAX = (
    "FIELD OP VALUE with OP one of = < <= > >= ~ (contains), e.g. "
    "'acquisition.pixel_size<=1.1 Å', 'acquisition.pixel_size=0.8..1.2 Å' (a range), "
    "'instrument.acceleration_voltage=300 kV', 'acquisition.detectors.name~Falcon'"
)


def parse_condition(text: str) -> Condition:
    """One condition as a person or script writes it: ``FIELD OP VALUE [UNIT]``.

    ``=`` with ``LOW..HIGH`` is a range; ``~`` is ``contains``. Quantities take a unit after
    the number (``1.1 Å``, ``0.11 nm``), compared in SI; other numbers and text take the value
    as written. Anything unreadable raises ValidationFailed naming the syntax."""
    match = _CONDITION_RE.match(text or "")
    if match is None or not match.group(3):
        raise ValidationFailed(f"cannot read the condition {text!r}: write {CONDITION_SYNTAX}")
    name, operator, rest = match.groups()
    field = _field(name)
    relation = Relation.CONTAINS.value if operator == "~" else operator
    if field.kind in (Kind.QUANTITY, Kind.NUMBER, Kind.INTEGER):
        numbers = _NUMBERS_RE.match(rest)
        if numbers is None:
            raise ValidationFailed(f"{field.label} ({name}): {rest!r} does not start with a number")
        low, high, unit = numbers.groups()
        if high is not None and relation != Relation.EQ.value:
            raise ValidationFailed(f"{field.label} ({name}): a range LOW..HIGH goes with '='")
        value: Any = (float(low), float(high)) if high is not None else float(low)
        if high is not None:
            relation = Relation.RANGE.value
        if field.kind is not Kind.QUANTITY and unit:
            raise ValidationFailed(f"{field.label} ({name}) has no unit, got {unit!r}")
        return Condition(name, relation, value, unit or None)
    return Condition(name, relation, rest)


def metadata_filter(queryset: QuerySet[Any], conditions: Iterable[Condition]) -> QuerySet[Any]:
    """``queryset`` narrowed to datasets whose metadata meets every condition."""
    for condition in conditions:
        for expression in condition_filters(condition):
            queryset = queryset.filter(expression)
    return queryset


class JsonListMatch(Expression):
    """True when a text item of a list inside ``metadata`` equals (``exact``) or contains
    (case-insensitively) ``value``: ``acquisition.detectors[].name``, ``...organism[]``."""

    output_field = BooleanField()

    def __init__(self, path: str, *, exact: bool, value: str) -> None:
        super().__init__(output_field=BooleanField())
        list_part, _, item_part = path.partition("[]")
        self.list_keys = list_part.split(".")
        self.item_keys = [k for k in item_part.split(".") if k]
        self.exact = exact
        self.value = value
        self.source: Any = F("metadata")

    def get_source_expressions(self) -> list[Any]:
        return [self.source]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.source,) = exprs

    def _pattern(self) -> str:
        if self.exact:
            return self.value
        escaped = self.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        raise NotSupportedError("list conditions need SQLite or PostgreSQL")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source)
        array = f"({column} #> %s)"
        compare = "=" if self.exact else "ILIKE"
        # Only the compiled column and fixed SQL are interpolated; keys and text are parameters.
        items = f"CASE WHEN jsonb_typeof({array}) = 'array' THEN {array} ELSE '[]'::jsonb END"
        sql = f"EXISTS (SELECT 1 FROM jsonb_array_elements({items}) AS item(value) WHERE (item.value #>> %s) {compare} %s)"  # noqa: S608
        sql_params = [*params, self.list_keys, *params, self.list_keys, self.item_keys]
        return sql, (*sql_params, self._pattern())

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        column, params = compiler.compile(self.source)
        json_path = "$." + ".".join(f'"{key}"' for key in self.list_keys)
        if self.item_keys:
            item_path = "$." + ".".join(f'"{key}"' for key in self.item_keys)
            item, item_params = "json_extract(item.value, %s)", [item_path]
        else:
            item, item_params = "item.value", []
        compare = "= %s" if self.exact else "LIKE %s ESCAPE '\\'"
        # The same: fixed SQL and the compiled column; paths and text are parameters.
        sql = f"(json_type({column}, %s) = 'array' AND EXISTS (SELECT 1 FROM json_each({column}, %s) AS item WHERE {item} {compare}))"  # noqa: S608
        return sql, (*params, json_path, *params, json_path, *item_params, self._pattern())


# ---------------------------------------------------------------------------------------------
# Facets


def _ranked(counter: Counter[str], limit: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:limit]


def _grouped(base: QuerySet[Any], expression: Any) -> Counter[str]:
    rows = base.annotate(facet=expression).values("facet").annotate(n=Count("pk"))
    return Counter({str(row["facet"]): row["n"] for row in rows if row["facet"] not in (None, "")})


def _voltages(base: QuerySet[Any]) -> Counter[str]:
    counter: Counter[str] = Counter()
    for value, n in _grouped(
        base, KT("metadata__instrument__acceleration_voltage__valueSI")
    ).items():
        try:
            kilovolts = float(value) / 1000
        except ValueError:
            continue
        counter[f"{kilovolts:g} kV"] += n
    return counter


def _listed_values(base: QuerySet[Any], paths: Iterable[str]) -> Counter[str]:
    """Distinct text items per dataset of lists inside metadata (counted in Python, streamed:
    only the lists are read, not the documents)."""
    counter: Counter[str] = Counter()
    expressions = {}
    for index, path in enumerate(paths):
        list_part, _, item_key = path.partition("[]")
        expressions[f"f{index}"] = (_key_transform(list_part.split(".")), item_key.strip("."))
    rows = base.values_list(*(expr for expr, _ in expressions.values()))
    for row in rows.iterator(chunk_size=2000):
        seen: set[str] = set()
        for items, (_, item_key) in zip(row, expressions.values(), strict=True):
            for item in items if isinstance(items, list) else ():
                value = item.get(item_key) if item_key and isinstance(item, dict) else item
                if isinstance(value, str) and value.strip():
                    seen.add(value.strip())
        counter.update(seen)
    return counter


def metadata_facets(
    queryset: QuerySet[Any], *, limit: int = FACET_LIMIT
) -> dict[str, list[tuple[str, int]]]:
    """Facet values with dataset counts, most frequent first: technique, facility, microscope
    model, detector, voltage, acquisition year, organism."""
    base = queryset.model.objects.filter(pk__in=queryset.values("pk")).order_by()
    return {
        "technique": _ranked(_grouped(base, F("technique")), limit),
        "facility": _ranked(_grouped(base, F("facility__name")), limit),
        "microscope": _ranked(_grouped(base, KT("metadata__instrument__microscope__model")), limit),
        "detector": _ranked(_listed_values(base, [f"{oscem.DETECTORS}[].name"]), limit),
        "voltage": _ranked(_voltages(base), limit),
        "year": _ranked(
            _grouped(base, Substr(KT("metadata__acquisition__date_time"), 1, 4)), limit
        ),
        "organism": _ranked(
            _listed_values(base, [f"{oscem.ORGANISMS}[]", f"{oscem.MOLECULES}[].natural_source"]),
            limit,
        ),
    }

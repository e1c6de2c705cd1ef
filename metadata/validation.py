"""Validating metadata documents: JSON Schema (the draft the schema declares) plus units.

:func:`validate_metadata` returns *every* problem, each as a :class:`Problem` with a path and
a message a curator can act on. Path convention (also used by forms and the provenance map):
dotted property names with list indices in brackets, e.g.
``organizational.authors[1].orcid`` or ``acquisition.dose_per_movie.unit``; the document
itself is ``""``. A missing required property is reported at the path it should have
(``acquisition.pixel_size``), an unexpected one at its own path.

Beyond the schema: every ``{value, unit}`` quantity in the document must have a unit that
:mod:`metadata.units` understands ("unknown unit 'xyz' at acquisition.pixel_size"), and where
the schema names the units of a field (``x-units``) the unit must convert to them.

Keys of ``dataset.metadata`` starting with ``_`` belong to the portal, not to the OSC-EM
document (``_provenance``: where ingest found each value); :func:`oscem_document` strips them.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from jsonschema import FormatChecker
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry

from openem.errors import ValidationFailed

from . import units
from .fields import Field, Kind, field_path, join_path, schema_fields

#: Where ingest records the source of each extracted value, inside ``dataset.metadata``:
#: ``{"<document path>": {"file": "<relative path in the dataset>", "source": "epu"}}``
#: (a bare string is read as the file). A path covers everything below it.
PROVENANCE_KEY = "_provenance"
#: Quantities whose unit is a currency, not a physical unit (checked by the schema instead).
NON_PHYSICAL_QUANTITIES = frozenset({"organizational.grants[].budget"})
#: Spellings OSC-EM uses that metadata.units does not read (yet); mapped before parsing.
_UNIT_SPELLINGS = {"%": "percent"}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMAT_HINTS = {
    "date-time": "date and time with a time zone (e.g. 2024-01-01T12:00:00Z)",
    "date": "date (e.g. 2024-01-31)",
}
_UNEXPECTED = re.compile(r"\((?P<names>.*) (?:was|were) unexpected\)")


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


#: How a missing required value is worded (see :func:`is_missing`).
_REQUIRED = " is required"


def is_missing(problem: Problem) -> bool:
    """A required value nobody entered yet: a to-do for publication and deposition, not an
    error of what was entered."""
    return problem.message.endswith(_REQUIRED)


def oscem_document(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The OSC-EM document of ``dataset.metadata``: without the portal's ``_`` keys."""
    return {key: value for key, value in metadata.items() if not str(key).startswith("_")}


def portal_keys(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if str(key).startswith("_")}


def schema_document(schema: Any) -> dict[str, Any]:
    """A MetadataSchema's document, or the document itself."""
    return schema.document if hasattr(schema, "document") else schema


# ---------------------------------------------------------------------------------------------
# Units


def pint_unit(unit: str) -> str:
    """``unit`` as metadata.units reads it (OSC-EM writes humidity in "%")."""
    return _UNIT_SPELLINGS.get(unit.strip(), unit)


def unit_is_known(unit: Any) -> bool:
    if not isinstance(unit, str):
        return False
    try:
        units.parse_unit(pint_unit(unit))
    except units.UnknownUnit:
        return False
    return True


def converts_to(unit: str, targets: tuple[str, ...]) -> bool:
    """Whether a value in ``unit`` can be expressed in at least one of ``targets``."""
    for target in targets:
        try:
            units.conversion_factor(pint_unit(unit), pint_unit(target))
        except ValueError:  # UnknownUnit is a ValueError too
            continue
        return True
    return False


def iter_quantities(document: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``{value, unit}`` object in a document, with its path, wherever it sits."""
    if isinstance(document, dict):
        if "value" in document and "unit" in document:
            yield path, document
        for key, value in document.items():
            yield from iter_quantities(value, join_path(path, str(key)))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from iter_quantities(value, join_path(path, index))


def unit_problems(document: Any, fields: Field | None = None) -> list[Problem]:
    problems = []
    for path, quantity in iter_quantities(document):
        pattern = field_path(path)
        if pattern in NON_PHYSICAL_QUANTITIES:
            continue
        unit = quantity["unit"]
        if not isinstance(unit, str):
            continue  # the schema reports the type
        if not unit_is_known(unit):
            problems.append(
                Problem(join_path(path, "unit"), f"unknown unit {unit!r} at {path or '(document)'}")
            )
            continue
        node = fields.find(pattern) if fields is not None else None
        if node is not None and node.units and not converts_to(unit, node.units):
            problems.append(
                Problem(
                    join_path(path, "unit"),
                    f"{unit!r} is not a unit for {node.label.lower()} "
                    f"(use {', '.join(node.units)})",
                )
            )
    return problems


def _si_target(node: Field, value: Any) -> bool:
    return node.kind is Kind.QUANTITY and node.has_si and isinstance(value, dict)


def with_si_values(document: Any, fields: Field) -> Any:
    """A copy of ``document`` where each quantity the schema gives ``valueSI``/``unitSI`` has
    them computed from value and unit (quantities with an unknown unit are left alone: the
    validation reports them)."""
    if isinstance(document, list):
        item = fields.item
        return [with_si_values(v, item) if item else v for v in document]
    if not isinstance(document, dict):
        return document
    if _si_target(fields, document):
        value, unit = document.get("value"), document.get("unit")
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and isinstance(unit, str)
            and unit_is_known(unit)
        ):
            try:
                value_si, unit_si = units.to_si(value, pint_unit(unit))
            except ValueError:
                return dict(document)
            return {**document, "valueSI": value_si, "unitSI": unit_si}
        return dict(document)
    result = {}
    for key, value in document.items():
        child = fields.child(key) if fields.kind is Kind.OBJECT else None
        result[key] = with_si_values(value, child) if child is not None else value
    return result


# ---------------------------------------------------------------------------------------------
# JSON Schema


def _format_checker() -> FormatChecker:
    """Formats checked without optional packages: RFC 3339 date-time (with a zone) and date."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        if not _RFC3339.match(instance):
            return False
        dt.datetime.fromisoformat(instance.replace("Z", "+00:00").replace("z", "+00:00"))
        return True

    @checker.checks("date", raises=ValueError)
    def _date(instance: object) -> bool:
        if not isinstance(instance, str):
            return True
        if not _DATE.match(instance):
            return False
        dt.date.fromisoformat(instance)
        return True

    return checker


FORMAT_CHECKER = _format_checker()


def validator_class(document: Mapping[str, Any]) -> type[Validator]:
    """The validator for the draft ``document`` declares in ``$schema`` (draft 2020-12 if it
    declares none). Raises ValidationFailed for a draft we do not know."""
    declared = document.get("$schema")
    if declared is not None and not isinstance(declared, str):
        raise ValidationFailed(f"$schema must be a URI string, not {declared!r}")
    cls = validator_for(document, default=None)  # type: ignore[arg-type]
    if cls is None:
        if declared is None:
            return validator_for({})  # the latest draft
        raise ValidationFailed(
            f"unsupported $schema {declared!r}: use a JSON Schema draft "
            "(4, 6, 7, 2019-09 or 2020-12)"
        )
    return cls


def check_schema(document: Any) -> type[Validator]:
    """Raise ValidationFailed unless ``document`` is a valid JSON Schema for its draft."""
    if not isinstance(document, dict):
        raise ValidationFailed("a JSON Schema must be a JSON object")
    cls = validator_class(document)
    try:
        cls.check_schema(document)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
        raise ValidationFailed(
            f"not a valid JSON Schema ({cls.__name__}): {exc.message} at {where}"
        ) from None
    return cls


@lru_cache(maxsize=16)
def _compiled(canonical: str) -> Validator:
    document = json.loads(canonical)
    cls = validator_class(document)
    # An empty registry: references resolve inside the document, nothing is fetched.
    return cls(document, format_checker=FORMAT_CHECKER, registry=Registry())


def _path(error: SchemaValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path = join_path(path, part if isinstance(part, int) else str(part))
    return path


def _unexpected_names(error: SchemaValidationError) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        return [k for k in instance if k not in allowed and not any(p.search(k) for p in patterns)]
    match = _UNEXPECTED.search(error.message)
    if not match:
        return []
    try:
        names = ast.literal_eval(f"({match.group('names')},)")
    except (ValueError, SyntaxError):
        return []
    return [str(n) for n in names]


def _branch_errors(error: SchemaValidationError) -> list[SchemaValidationError] | None:
    """For anyOf/oneOf: the errors of the one branch the value was meant for (the others fail
    on their type, e.g. the ``{"type": "null"}`` of an optional field), or None."""
    branches: dict[Any, list[SchemaValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    candidates = [
        errors
        for errors in branches.values()
        if not any(e.validator == "type" and not e.relative_path for e in errors)
    ]
    return candidates[0] if len(candidates) == 1 else None


def _problems(error: SchemaValidationError, fields: Field) -> list[Problem]:
    path = _path(error)
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        return [
            Problem(join_path(path, name), f"{name!r}{_REQUIRED}")
            for name in error.validator_value
            if name not in instance
        ]
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        names = _unexpected_names(error)
        node = fields.find(field_path(path))
        if error.validator == "unevaluatedProperties" and node is not None and node.children:
            # A failing subschema drops its annotations, so jsonschema then calls every
            # property "unevaluated": only names the schema does not have are unexpected.
            known = {child.name for child in node.children}
            names = [name for name in names if name not in known]
            if not names:
                return []
        if names:
            return [
                Problem(join_path(path, name), f"{name!r} is not a field of this schema")
                for name in names
            ]
    if error.validator in ("anyOf", "oneOf"):
        branch = _branch_errors(error)
        if branch is not None:
            return [problem for sub in branch for problem in _problems(sub, fields)]
    custom = error.schema.get("x-error") if isinstance(error.schema, dict) else None
    if custom and error.validator in ("pattern", "format"):
        return [Problem(path, f"{error.instance!r}: {custom}")]
    if error.validator == "format" and error.validator_value in _FORMAT_HINTS:
        hint = _FORMAT_HINTS[error.validator_value]
        return [Problem(path, f"{error.instance!r} is not a valid {hint}")]
    if error.validator == "enum":
        choices = ", ".join(repr(v) for v in error.validator_value if v is not None)
        return [Problem(path, f"{error.instance!r} is not one of {choices}")]
    if error.validator == "const":
        return [Problem(path, f"must be {error.validator_value!r}, not {error.instance!r}")]
    return [Problem(path, error.message)]


#: What PostgreSQL cannot store in text or jsonb: NUL, and lone UTF-16 surrogates (which a
#: JSON body can carry as ``\ud800`` but which have no UTF-8 form).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii") if _UNSTORABLE.search(text) else text


def text_problems(document: Any, path: str = "") -> list[Problem]:
    """The names and texts of ``document`` the database cannot store (a NUL character, a lone
    surrogate), by path: refused with a message instead of failing in the database."""
    if isinstance(document, str):
        if _UNSTORABLE.search(document):
            return [Problem(path, "contains a NUL character or an invalid (surrogate) character")]
        return []
    problems: list[Problem] = []
    if isinstance(document, Mapping):
        for key, value in document.items():
            name = str(key)
            if _UNSTORABLE.search(name):
                problems.append(
                    Problem(path, f"the name '{_printable(name)}' contains an invalid character")
                )
                continue
            problems.extend(text_problems(value, join_path(path, name)))
    elif isinstance(document, list):
        for index, item in enumerate(document):
            problems.extend(text_problems(item, join_path(path, index)))
    return problems


def validate_metadata(document: Any, schema: Any) -> list[Problem]:
    """Every problem of ``document`` against ``schema`` (a MetadataSchema or a JSON Schema
    document), sorted by path. An empty list means valid."""
    schema_doc = schema_document(schema)
    validator = _compiled(json.dumps(schema_doc, sort_keys=True))
    fields = schema_fields(schema_doc)
    problems: set[Problem] = set()
    for error in validator.iter_errors(document):
        problems.update(_problems(error, fields))
    problems.update(unit_problems(document, fields))
    problems.update(text_problems(document))
    return sorted(problems)


def problems_as_details(problems: list[Problem]) -> list[dict[str, str]]:
    return [problem.as_dict() for problem in problems]


def problems_summary(problems: list[Problem], limit: int = 3) -> str:
    shown = "; ".join(f"{p.path or '(document)'}: {p.message}" for p in problems[:limit])
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return f"the metadata has {len(problems)} problem{'s' if len(problems) != 1 else ''}: {shown}{more}"

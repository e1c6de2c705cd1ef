"""The fields of a JSON Schema as a tree: what forms render, search offers and unit checks use.

JSON Schema is a validation language, not a data model; this module reads the subset that
metadata schemas use (OSC-EM's generated schemas and our built-ins) into a tree of
:class:`Field`: ``$ref`` is followed (through bundled ``$id``s too), ``allOf`` is merged, an
``anyOf``/``oneOf`` of one schema and ``{"type": "null"}`` is that schema made optional.
What it cannot represent (a real choice between shapes, free-form objects) becomes a field of
kind ``any``, which forms leave alone and which keeps its stored value.

Paths: dotted property names, ``[]`` for "each item of a list" in field paths
(``organizational.authors[].orcid``) and ``[3]`` for one item in document paths
(``organizational.authors[3].orcid``); :func:`field_path` turns the second into the first.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import referencing.jsonschema
from referencing import Registry, Resource
from referencing._core import Resolver  # not re-exported by the package; used for types only

ROOT_URI = "urn:openem:schema"
MAX_DEPTH = 12
QUANTITY_KEYS = frozenset({"value", "unit", "valueSI", "unitSI"})
_INDEX = re.compile(r"\[\d+\]")


class Kind(StrEnum):
    OBJECT = "object"
    ARRAY = "array"
    QUANTITY = "quantity"
    STRING = "string"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ANY = "any"


SCALAR_KINDS = frozenset({Kind.STRING, Kind.NUMBER, Kind.INTEGER, Kind.BOOLEAN})
_NO_CONST = object()


@dataclass
class Field:
    name: str
    path: str
    kind: Kind
    title: str = ""
    description: str = ""
    required: bool = False
    enum: tuple[Any, ...] | None = None
    const: Any = _NO_CONST
    format: str | None = None
    pattern: str | None = None
    units: tuple[str, ...] = ()
    has_si: bool = False
    children: list[Field] = field(default_factory=list)
    item: Field | None = None

    @property
    def label(self) -> str:
        return self.title or self.name.replace("_", " ").capitalize()

    @property
    def has_const(self) -> bool:
        return self.const is not _NO_CONST

    def child(self, name: str) -> Field | None:
        return next((c for c in self.children if c.name == name), None)

    def walk(self) -> Any:
        """This field and every field below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()
        if self.item is not None:
            yield from self.item.walk()

    def find(self, path: str) -> Field | None:
        """The field at a field path (``a.b[].c``) below this one ("" is this one)."""
        node: Field | None = self
        for part in path.split(".") if path else ():
            if node is None:
                return None
            node = node.child(part.split("[]")[0])
            for _ in range(part.count("[]")):
                node = node.item if node is not None else None
        return node


def field_path(document_path: str) -> str:
    """``organizational.authors[3].orcid`` -> ``organizational.authors[].orcid``."""
    return _INDEX.sub("[]", document_path)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_path(document_path: str) -> list[str | int]:
    """``organizational.authors[3].orcid`` -> ``["organizational", "authors", 3, "orcid"]``."""
    return [int(index) if index else name for name, index in _PATH_TOKEN.findall(document_path)]


def join_path(parent: str, name: str | int) -> str:
    if isinstance(name, int):
        return f"{parent}[{name}]"
    return f"{parent}.{name}" if parent else name


# ---------------------------------------------------------------------------------------------
# Resolution: a schema and the resolver its references are relative to


@dataclass
class _Merged:
    types: set[str] | None = None
    properties: dict[str, list[tuple[Any, Resolver[Any]]]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    items: list[tuple[Any, Resolver[Any]]] = field(default_factory=list)
    keywords: dict[str, Any] = field(default_factory=dict)
    opaque: bool = False


def _types_of(schema: dict[str, Any]) -> set[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return {declared} if isinstance(declared, str) else set(declared)


def _merge_into(
    merged: _Merged,
    schema: Any,
    resolver: Resolver[Any],
    depth: int,
    *,
    use_site: bool = True,
) -> None:
    """Fold ``schema`` into ``merged``; titles and descriptions count only where a property
    uses a definition (``use_site``), not from the definition itself ("Quantity")."""
    if depth > MAX_DEPTH:
        merged.opaque = True
        return
    if not isinstance(schema, dict):  # true/false schemas: nothing to render
        return
    if "$ref" in schema:
        resolved = resolver.lookup(schema["$ref"])
        _merge_into(merged, resolved.contents, resolved.resolver, depth + 1, use_site=False)
    for sub in schema.get("allOf", ()):
        _merge_into(merged, sub, resolver, depth + 1, use_site=False)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            branches = [b for b in schema[keyword] if not _is_null_schema(b)]
            if len(branches) == 1:
                _merge_into(merged, branches[0], resolver, depth + 1, use_site=False)
            else:
                merged.opaque = True
    types = _types_of(schema)
    if types is not None:
        merged.types = types if merged.types is None else (merged.types & types) or types
    for name, sub in schema.get("properties", {}).items():
        merged.properties.setdefault(name, []).append((sub, resolver))
    merged.required.update(schema.get("required", ()))
    if isinstance(schema.get("items"), dict):
        merged.items.append((schema["items"], resolver))
    for keyword in ("title", "description", "enum", "const", "format", "pattern", "x-units"):
        if keyword in schema and (use_site or keyword not in ("title", "description")):
            merged.keywords[keyword] = schema[keyword]


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _merged(schemas: list[tuple[Any, Resolver[Any]]], depth: int) -> _Merged:
    merged = _Merged()
    for schema, resolver in schemas:
        _merge_into(merged, schema, resolver, depth)
    return merged


def _kind(merged: _Merged) -> Kind:
    if merged.opaque:
        return Kind.ANY
    types = (merged.types or set()) - {"null"}
    if not types:
        if merged.properties:
            types = {"object"}
        elif "enum" in merged.keywords or "const" in merged.keywords:
            types = {"string"}
    if len(types) != 1:
        return Kind.ANY
    (kind,) = types
    if kind == "object":
        names = set(merged.properties)
        if {"value", "unit"} <= names <= QUANTITY_KEYS:
            return Kind.QUANTITY
        return Kind.OBJECT if names else Kind.ANY
    return Kind(kind) if kind in Kind.__members__.values() else Kind.ANY


def _build(
    name: str,
    path: str,
    schemas: list[tuple[Any, Resolver[Any]]],
    *,
    required: bool,
    inherited_units: tuple[str, ...],
    depth: int,
) -> Field:
    merged = _merged(schemas, depth)
    kind = _kind(merged) if depth <= MAX_DEPTH else Kind.ANY
    keywords = merged.keywords
    units = tuple(keywords.get("x-units", ())) or inherited_units
    enum = keywords.get("enum")
    node = Field(
        name=name,
        path=path,
        kind=kind,
        title=keywords.get("title", ""),
        description=keywords.get("description", ""),
        required=required,
        enum=tuple(v for v in enum if v is not None) if enum is not None else None,
        format=keywords.get("format"),
        pattern=keywords.get("pattern"),
        units=units if kind in (Kind.QUANTITY, Kind.OBJECT, Kind.ARRAY) else (),
        has_si=kind is Kind.QUANTITY and "valueSI" in merged.properties,
    )
    if "const" in keywords:
        node.const = keywords["const"]
    if kind is Kind.OBJECT:
        node.children = [
            _build(
                child_name,
                join_path(path, child_name),
                child_schemas,
                required=child_name in merged.required,
                inherited_units=units,
                depth=depth + 1,
            )
            for child_name, child_schemas in merged.properties.items()
        ]
    elif kind is Kind.ARRAY and merged.items:
        node.item = _build(
            name,
            f"{path}[]",
            merged.items,
            required=True,
            inherited_units=units,
            depth=depth + 1,
        )
    elif kind is Kind.ARRAY:
        node.kind = Kind.ANY
    return node


def resolver_for(document: dict[str, Any]) -> Resolver[Any]:
    """A resolver over ``document`` alone: nothing outside it is ever looked up."""
    resource: Resource[Any] = Resource.from_contents(
        document, default_specification=referencing.jsonschema.DRAFT202012
    )
    uri = resource.id() or ROOT_URI
    registry: Registry[Any] = Registry().with_resource(uri, resource).crawl()
    return registry.resolver(base_uri=uri)


_TREES: OrderedDict[str, Field] = OrderedDict()
_TREES_KEPT = 16


def schema_fields(document: dict[str, Any]) -> Field:
    """The field tree of a schema document, in the document's property order (cached per
    document content; treat the tree as read-only)."""
    key = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    tree = _TREES.get(key)
    if tree is None:
        tree = _build(
            "",
            "",
            [(document, resolver_for(document))],
            required=True,
            inherited_units=(),
            depth=0,
        )
        _TREES[key] = tree
        while len(_TREES) > _TREES_KEPT:
            _TREES.popitem(last=False)
    _TREES.move_to_end(key)
    return tree

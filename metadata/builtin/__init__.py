"""The project's own OSC-EM-shaped JSON Schemas, as files, and how they become registry documents.

The files follow OSC-EM v1.0.x (field names, nesting, enumerations, units) but are written by
the project: one file of shared definitions (``oscem_common.schema.json``) and one per technique.
``manifest.json`` names them and carries the one version number of the set.

A registered schema must not depend on anything outside its own document (a version that
datasets use never changes), so each technique file is *bundled*: the shared file is embedded
under ``$defs`` with its own ``$id`` and the technique file's relative ``$ref``s
("oscem_common.schema.json#/$defs/...") resolve inside the same document. The ``$id``s are
identifiers, not locations: the ``.invalid`` host (RFC 2606) says that nothing is fetched.

Annotations of our own (ignored by validators):

``x-units``
    units a form offers for a quantity (or for the quantities inside a range), the unit
    OSC-EM names first; validation also checks that a quantity's unit can be converted to them.
``x-error``
    the message shown when a value fails ``pattern``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

ID_BASE = "https://schemas.openem.invalid/builtin/"
COMMON_KEY = "oscem_common"


@dataclass(frozen=True)
class BuiltinSchema:
    name: str
    version: str
    techniques: tuple[str, ...]
    document: dict[str, Any]


def _read_json(filename: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(filename).read_text(encoding="utf-8"))


def manifest() -> dict[str, Any]:
    return _read_json("manifest.json")


def bundle(
    technique_document: dict[str, Any],
    common_document: dict[str, Any],
    *,
    version: str,
    filename: str,
    common_filename: str,
) -> dict[str, Any]:
    """One self-contained document: the technique schema with the shared file embedded."""
    base = f"{ID_BASE}{version}/"
    document = copy.deepcopy(technique_document)
    common = copy.deepcopy(common_document)
    common.pop("$schema", None)
    common["$id"] = base + common_filename
    bundled = {"$schema": document.pop("$schema"), "$id": base + filename, **document}
    bundled["$defs"] = {**bundled.get("$defs", {}), COMMON_KEY: common}
    return bundled


@lru_cache(maxsize=1)
def _builtin_schemas() -> tuple[BuiltinSchema, ...]:
    info = manifest()
    common = _read_json(info["common"])
    schemas = []
    for entry in info["schemas"]:
        document = bundle(
            _read_json(entry["file"]),
            common,
            version=info["version"],
            filename=entry["file"],
            common_filename=info["common"],
        )
        document["x-openem"] = {
            "name": entry["name"],
            "version": info["version"],
            "oscem_version": info["oscem_version"],
        }
        schemas.append(
            BuiltinSchema(
                name=entry["name"],
                version=info["version"],
                techniques=tuple(entry["techniques"]),
                document=document,
            )
        )
    return tuple(schemas)


def builtin_schemas() -> list[BuiltinSchema]:
    """The built-in schemas as the registry stores them (deep copies: callers may change them)."""
    return [
        BuiltinSchema(s.name, s.version, s.techniques, copy.deepcopy(s.document))
        for s in _builtin_schemas()
    ]


def builtin_document(name: str) -> dict[str, Any]:
    """The bundled document of one built-in schema, by name (``spa``, ``general``, ...)."""
    for schema in _builtin_schemas():
        if schema.name == name:
            return copy.deepcopy(schema.document)
    raise KeyError(f"no built-in schema named {name!r}")

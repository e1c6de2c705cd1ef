"""The built-in schemas against the official OSC-EM v1.0.2 schemas and examples.

- every official example validates against the matching built-in;
- the built-ins have OSC-EM's fields: same paths, kinds, required flags, enumerations, formats;
- what the portal writes from its form validates against the official schema.

The official files are read from ``OPENEM_SCHEMAS_DIR`` (default ``<repo>/../shared/schemas``);
without them these tests skip and say where they looked.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from metadata.builtin import builtin_document
from metadata.fields import Field, Kind, schema_fields
from metadata.forms import MetadataForm
from metadata.identifiers import identifier_warnings
from metadata.validation import validate_metadata, with_si_values
from tests.support.oscem_examples import official_example, oscem_dir, with_real_orcids, without_si

TECHNIQUES = ["general", "spa", "subtomo", "cellular_tomo", "env_tomo"]


def official_schema(technique: str) -> dict[str, Any]:
    return json.loads((oscem_dir() / f"oscem_schemas_{technique}.schema.json").read_text())


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_official_examples_validate_against_the_builtins(technique):
    example = official_example(technique)
    assert validate_metadata(example, official_schema(technique)) == []  # the example is valid
    assert validate_metadata(example, builtin_document(technique)) == []  # as published
    assert validate_metadata(with_real_orcids(example), builtin_document(technique)) == []
    # the placeholder ORCIDs are warnings, not problems
    assert [p.path for p in identifier_warnings(example)] == [
        f"organizational.authors[{i}].orcid"
        for i in range(len(example["organizational"]["authors"]))
    ]
    assert identifier_warnings(with_real_orcids(example)) == []


def _shape(tree: Field) -> dict[str, tuple[Any, ...]]:
    return {
        node.path: (node.kind, node.required, node.enum, node.format, node.has_si)
        for node in tree.walk()
    }


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_builtins_have_the_official_fields(technique):
    builtin = _shape(schema_fields(builtin_document(technique)))
    official = _shape(schema_fields(official_schema(technique)))
    assert sorted(builtin) == sorted(official)
    differences = {
        path: (builtin[path], official[path]) for path in builtin if builtin[path] != official[path]
    }
    assert differences == {}


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_builtins_refuse_what_the_official_schemas_refuse(technique):
    example = with_real_orcids(official_example(technique))
    broken = copy.deepcopy(example)
    del broken["instrument"]["acceleration_voltage"]
    broken["acquisition"]["unknown_field"] = 1
    broken["acquisition"]["pixel_size"]["value"] = "big"
    expected = {
        "instrument.acceleration_voltage",
        "acquisition.unknown_field",
        "acquisition.pixel_size.value",
    }
    for schema in (builtin_document(technique), official_schema(technique)):
        assert {p.path for p in validate_metadata(broken, schema)} == expected


# ---------------------------------------------------------------------------------------------
# Documents written by the portal's form


def form_data(document: Any, node: Field, name: str = "") -> dict[str, str]:
    """What a browser posts for ``document`` in the form generated from ``node``."""
    data: dict[str, str] = {}
    if node.kind is Kind.OBJECT and isinstance(document, dict):
        for child in node.children:
            if child.name in document:
                child_name = f"{name}.{child.name}" if name else child.name
                data.update(form_data(document[child.name], child, child_name))
    elif node.kind is Kind.QUANTITY:
        data[f"{name}.value"] = repr(document["value"])
        data[f"{name}.unit"] = document["unit"]
    elif node.kind is Kind.ARRAY and node.item is not None and node.item.kind is Kind.OBJECT:
        data[f"{name}._rows"] = str(len(document))
        for index, item in enumerate(document):
            data.update(form_data(item, node.item, f"{name}[{index}]"))
    elif node.kind is Kind.ARRAY:
        data[name] = "\n".join(str(item) for item in document)
    elif node.kind is Kind.BOOLEAN:
        data[name] = "true" if document else "false"
    elif node.kind in (Kind.STRING, Kind.NUMBER, Kind.INTEGER):
        data[name] = str(document)
    return data


def without_free_form(document: Any, node: Field) -> Any:
    """``document`` without the parts the form does not edit (free-form descriptor values)."""
    if node.kind is Kind.OBJECT and isinstance(document, dict):
        kept = {}
        for key, value in document.items():
            child = node.child(key)
            if child is not None and child.kind is not Kind.ANY:
                kept[key] = without_free_form(value, child)
        return kept
    if node.kind is Kind.ARRAY and node.item is not None and isinstance(document, list):
        return [without_free_form(item, node.item) for item in document]
    return document


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_documents_written_by_the_form_validate_against_the_official_schema(technique):
    schema = builtin_document(technique)
    fields = schema_fields(schema)
    example = without_free_form(with_real_orcids(official_example(technique)), fields)
    form = MetadataForm(schema=schema, metadata={}, data=form_data(example, fields))
    document, problems = form.parse()
    assert problems == []
    written = with_si_values(document, fields)  # as dataset_update_metadata stores it
    assert without_si(written) == without_si(example)
    assert validate_metadata(written, official_schema(technique)) == []
    assert validate_metadata(written, schema) == []
    # the SI values the portal adds are right (the examples' own are not always)
    c2 = written["instrument"].get("c2_aperture")
    if c2 is not None:
        assert c2 == {"value": 70, "unit": "um", "valueSI": 7e-05, "unitSI": "m"}

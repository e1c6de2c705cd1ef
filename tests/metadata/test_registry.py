"""The schema registry: versions, immutability once used, status, built-ins."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from metadata import registry, selectors
from metadata.builtin import builtin_document, builtin_schemas, manifest
from metadata.models import MetadataSchema, SchemaStatus
from openem.errors import Conflict, ValidationFailed
from tests.factories import DatasetFactory

SIMPLE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {"a": {"type": "string"}},
}
CHANGED = {**SIMPLE, "required": ["a"]}


def test_register_then_the_same_again_is_a_no_op(db):
    schema, created = registry.schema_register(
        name="lab-notes", version="1.0.0", document=SIMPLE, techniques=["spa"]
    )
    assert created and schema.status == SchemaStatus.ACTIVE and not schema.builtin
    again, created_again = registry.schema_register(
        name="lab-notes", version="1.0.0", document=SIMPLE
    )
    assert (again, created_again) == (schema, False)


def test_a_different_document_under_the_same_version_is_a_conflict(db):
    registry.schema_register(name="lab-notes", version="1.2.3", document=SIMPLE)
    with pytest.raises(Conflict, match=r"different document.*new version \(e\.g\. 1\.2\.4\)"):
        registry.schema_register(name="lab-notes", version="1.2.3", document=CHANGED)
    assert MetadataSchema.objects.get(name="lab-notes").document == SIMPLE


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "", "1.0.0-"])
def test_versions_must_be_semantic(db, version):
    with pytest.raises(ValidationFailed, match="semantic version"):
        registry.schema_register(name="lab-notes", version=version, document=SIMPLE)


def test_semantic_versions_sort_by_precedence():
    versions = ["1.0.10", "1.0.0", "1.0.0-rc.1", "1.0.9", "1.0.0-alpha", "2.0.0+build.5"]
    assert sorted(versions, key=selectors.semver_key) == [
        "1.0.0-alpha",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.9",
        "1.0.10",
        "2.0.0+build.5",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Lab Notes"}, "not a schema name"),
        ({"techniques": ["cryo-magic"]}, "unknown technique 'cryo-magic'"),
        ({"document": {"type": 5}}, "not a valid JSON Schema"),
        ({"document": {"$schema": "https://example.org/my-draft"}}, "unsupported \\$schema"),
        ({"document": ["not", "an", "object"]}, "must be a JSON object"),
    ],
)
def test_bad_registrations_are_refused_clearly(db, kwargs, message):
    arguments = {"name": "lab-notes", "version": "1.0.0", "document": SIMPLE, **kwargs}
    with pytest.raises(ValidationFailed, match=message):
        registry.schema_register(**arguments)
    assert not MetadataSchema.objects.filter(name="lab-notes").exists()


def test_an_unused_version_may_change_a_used_one_may_not(db):
    schema, _ = registry.schema_register(name="lab-notes", version="1.0.0", document=SIMPLE)
    registry.schema_update_document(schema=schema, document=CHANGED)
    schema.refresh_from_db()
    assert schema.document == CHANGED
    DatasetFactory(metadata_schema=schema)
    with pytest.raises(Conflict, match=r"used by 1 dataset and cannot change.*1\.0\.1"):
        registry.schema_update_document(schema=schema, document=SIMPLE)
    schema.refresh_from_db()
    assert schema.document == CHANGED
    assert selectors.schema_is_used(schema)


def test_deprecated_versions_are_not_picked_and_the_highest_active_is(db):
    current = selectors.schema_for_technique("spa")
    assert current is not None
    newer, _ = registry.schema_register(
        name="spa", version="10.0.0", document=builtin_document("spa"), builtin=True
    )
    registry.schema_register(
        name="spa", version="9.5.0", document=builtin_document("spa"), builtin=True
    )
    assert selectors.schema_for_technique("spa") == newer
    registry.schema_set_status(schema=newer, status=SchemaStatus.DEPRECATED)
    assert selectors.schema_for_technique("spa").version == "9.5.0"
    with pytest.raises(ValidationFailed, match="status must be one of"):
        registry.schema_set_status(schema=newer, status="retired")


def test_an_imported_schema_is_never_picked_as_the_builtin(db):
    registry.schema_register(name="spa", version="99.0.0", document=SIMPLE, builtin=False)
    assert selectors.schema_for_technique("spa").builtin


def test_the_migration_loaded_every_builtin(db):
    info = manifest()
    stored = {s.name: s for s in MetadataSchema.objects.filter(builtin=True)}
    assert set(stored) == {"general", "spa", "subtomo", "cellular_tomo", "env_tomo"}
    for builtin in builtin_schemas():
        schema = stored[builtin.name]
        assert schema.version == info["version"]
        assert schema.document == builtin.document
        assert schema.techniques == list(builtin.techniques)
        assert schema.status == SchemaStatus.ACTIVE


def test_loading_builtins_is_idempotent(db):
    assert {action for _, action in registry.schema_load_builtins()} == {"unchanged"}
    out = StringIO()
    call_command("load_builtin_schemas", stdout=out)
    assert "spa 1.1.0: unchanged" in out.getvalue()
    assert MetadataSchema.objects.filter(builtin=True).count() == 5


def test_a_changed_builtin_file_replaces_an_unused_version_but_not_a_used_one(db):
    spa = MetadataSchema.objects.get(name="spa", builtin=True)
    MetadataSchema.objects.filter(pk=spa.pk).update(document=SIMPLE)  # as if the file changed
    results = dict((s.name, action) for s, action in registry.schema_load_builtins())
    assert results["spa"] == "updated"
    spa.refresh_from_db()
    assert spa.document == builtin_document("spa")

    MetadataSchema.objects.filter(pk=spa.pk).update(document=SIMPLE)
    DatasetFactory(metadata_schema=spa)
    with pytest.raises(Conflict, match="manifest.json"):
        registry.schema_load_builtins()


def test_builtins_share_definitions_and_are_self_contained():
    spa = builtin_document("spa")
    common = spa["$defs"]["oscem_common"]
    assert common["$id"].endswith("/oscem_common.schema.json")
    assert spa["$id"].endswith("/spa.schema.json")
    assert spa["properties"]["instrument"]["$ref"] == "oscem_common.schema.json#/$defs/Instrument"
    orcid = common["$defs"]["Author"]["properties"]["orcid"]
    assert "pattern" not in orcid  # as OSC-EM: any text; metadata.identifiers warns

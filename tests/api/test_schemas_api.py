"""The schema registry through the API: list with filters, one version (or the latest active),
and the JSON Schema document itself; public, read-only, errors in the one shape."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from metadata import registry, selectors
from metadata.models import MetadataSchema, SchemaStatus
from repository.models import TokenScope
from tests.support.api import error_of

pytestmark = pytest.mark.django_db

DOCUMENT_V1 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Lab notebook",
    "type": "object",
    "properties": {"grid": {"type": "string"}},
}
DOCUMENT_V2 = {**DOCUMENT_V1, "required": ["grid"]}


@pytest.fixture
def notebook() -> dict[str, MetadataSchema]:
    """Three versions of one imported schema; 1.10.0 is the newest by semantic version (not by
    string order), 2.0.0 is deprecated."""
    versions = {}
    for version, document in (
        ("1.2.0", DOCUMENT_V1),
        ("1.10.0", DOCUMENT_V2),
        ("2.0.0", DOCUMENT_V2),
    ):
        versions[version], _ = registry.schema_register(
            name="lab-notebook", version=version, document=document, techniques=["tomography"]
        )
    registry.schema_set_status(schema=versions["2.0.0"], status=SchemaStatus.DEPRECATED)
    return versions


def _names(page: dict[str, Any]) -> list[tuple[str, str]]:
    return [(row["name"], row["version"]) for row in page["results"]]


def test_anyone_lists_every_schema_version_with_links(world, client_for, notebook):
    response = client_for("anonymous").get("/api/v1/schemas/")

    assert response.status_code == 200
    page = response.json()
    assert page["count"] == MetadataSchema.objects.count()
    listed = _names(page)
    assert ("lab-notebook", "1.10.0") in listed
    builtin = selectors.schema_for_technique("spa")
    assert builtin is not None and (builtin.name, builtin.version) in listed
    row = next(r for r in page["results"] if r["version"] == "1.2.0")
    assert row["title"] == "Lab notebook"
    assert row["techniques"] == ["tomography"]
    assert row["builtin"] is False and row["status"] == "active"
    assert row["url"].endswith("/api/v1/schemas/lab-notebook/1.2.0/")
    assert row["document_url"].endswith("/api/v1/schemas/lab-notebook/1.2.0/document")
    assert "document" not in row  # documents are fetched one at a time


def test_filters_by_name_technique_and_status(world, client_for, notebook):
    client = client_for("member", scope=TokenScope.READ)

    by_name = client.get("/api/v1/schemas/", {"name": "lab-notebook"}).json()
    assert sorted(_names(by_name)) == [
        ("lab-notebook", "1.10.0"),
        ("lab-notebook", "1.2.0"),
        ("lab-notebook", "2.0.0"),
    ]
    deprecated = client.get("/api/v1/schemas/", {"status": "deprecated"}).json()
    assert _names(deprecated) == [("lab-notebook", "2.0.0")]
    spa = client.get("/api/v1/schemas/", {"technique": "spa"}).json()
    assert spa["count"] >= 1
    assert all("spa" in row["techniques"] for row in spa["results"])
    assert ("lab-notebook", "1.2.0") not in _names(spa)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"technique": "x-ray"}, "technique"), ({"status": "draft"}, "status")],
)
def test_unknown_filter_values_are_400_with_the_field(world, client_for, query, field):
    response = client_for("anonymous").get("/api/v1/schemas/", query)

    assert response.status_code == 400
    assert field in str(error_of(response)["details"])


def test_one_version_and_latest_which_is_the_highest_active_semantic_version(
    world, client_for, notebook
):
    client = client_for("anonymous")

    exact = client.get("/api/v1/schemas/lab-notebook/1.2.0/")
    latest = client.get("/api/v1/schemas/lab-notebook/latest/")

    assert exact.status_code == 200 and exact.json()["version"] == "1.2.0"
    assert latest.status_code == 200
    assert latest.json()["version"] == "1.10.0"  # 2.0.0 is deprecated; 1.10 > 1.2
    assert latest.json()["url"].endswith("/api/v1/schemas/lab-notebook/1.10.0/")


def test_the_document_is_the_stored_json_schema_and_validates_metadata(world, client_for, notebook):
    response = client_for("anonymous").get("/api/v1/schemas/lab-notebook/1.10.0/document")

    assert response.status_code == 200
    document = response.json()
    assert document == DOCUMENT_V2
    jsonschema.validate({"grid": "Quantifoil R1.2/1.3"}, document)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({}, document)


def test_builtin_documents_are_served_as_registered(world, client_for):
    builtin = selectors.schema_for_technique("spa")
    assert builtin is not None
    response = client_for("anonymous").get(
        f"/api/v1/schemas/{builtin.name}/{builtin.version}/document"
    )
    assert response.status_code == 200
    assert response.json() == builtin.document


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/schemas/no-such-schema/1.0.0/", "schema no-such-schema has no version 1.0.0"),
        ("/api/v1/schemas/lab-notebook/9.9.9/document", "schema lab-notebook has no version 9.9.9"),
        ("/api/v1/schemas/no-such-schema/latest/", "schema no-such-schema has no active version"),
    ],
)
def test_unknown_schema_or_version_is_a_json_404(world, client_for, notebook, url, message):
    response = client_for("anonymous").get(url)

    assert response.status_code == 404
    assert error_of(response)["message"] == message


def test_the_registry_is_read_only_through_the_api(world, client_for, notebook):
    client = client_for("admin")
    before = MetadataSchema.objects.get(name="lab-notebook", version="1.2.0").document

    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)(
            "/api/v1/schemas/lab-notebook/1.2.0/", {"document": {}}, format="json"
        )
        assert response.status_code == 405, method
        assert error_of(response)["code"]

    assert MetadataSchema.objects.get(name="lab-notebook", version="1.2.0").document == before

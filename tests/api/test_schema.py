"""The OpenAPI document: valid, warning-free, complete, and its viewers served without a CDN."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

EXPECTED_OPERATIONS = {
    ("/api/v1/datasets/", "get"),
    ("/api/v1/datasets/", "post"),
    ("/api/v1/datasets/{pid}/", "get"),
    ("/api/v1/datasets/{pid}/publish", "post"),
    ("/api/v1/datasets/{pid}/visibility", "post"),
    ("/api/v1/datasets/{pid}/manifest", "get"),
    ("/api/v1/datasets/{pid}/files/", "get"),
    ("/api/v1/datasets/{pid}/files/{file_id}/", "get"),
    ("/api/v1/datasets/{pid}/files/{file_id}/download", "get"),
    ("/api/v1/facilities/", "get"),
    ("/api/v1/facilities/{slug}/", "get"),
    ("/api/v1/instruments/", "get"),
    ("/api/v1/instruments/{instrument_id}/", "get"),
    ("/api/v1/projects/", "get"),
    ("/api/v1/projects/{code}/", "get"),
    ("/api/v1/tokens/", "get"),
    ("/api/v1/tokens/", "post"),
    ("/api/v1/tokens/{token_id}/", "get"),
    ("/api/v1/tokens/{token_id}/", "delete"),
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    target = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        # --fail-on-warn turns any drf-spectacular warning (an undocumented field, an unknown
        # parameter type, an enum collision) into a failure, as in CI.
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    return yaml.safe_load(target.read_text())


def _operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (path, method): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_schema_validates_and_covers_the_repository_endpoints(schema):
    assert set(_operations(schema)) >= EXPECTED_OPERATIONS


def test_every_operation_is_documented_with_errors_in_the_one_shape(schema):
    for key, operation in _operations(schema).items():
        if key not in EXPECTED_OPERATIONS:
            continue  # other apps' endpoints are theirs to document
        assert operation.get("summary"), key
        path, _method = key
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert "{" + parameter["name"] + "}" in path, (key, parameter["name"])
        errors = {code: r for code, r in operation["responses"].items() if code.startswith("4")}
        assert "429" in errors, key
        for code, response in errors.items():
            if code == "416":
                continue
            ref = response["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", (key, code)
    error = schema["components"]["schemas"]["Error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["error"]
    assert set(detail["properties"]) == {"code", "message", "details"}


def test_token_auth_is_a_security_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    listing = _operations(schema)[("/api/v1/datasets/", "get")]
    assert {"tokenAuth": []} in listing["security"]
    assert {} in listing["security"]  # anonymous reading is allowed
    create = _operations(schema)[("/api/v1/datasets/", "post")]
    assert {} not in create["security"]


def test_main_flows_have_examples(schema):
    operations = _operations(schema)
    create = operations[("/api/v1/datasets/", "post")]
    token = operations[("/api/v1/tokens/", "post")]
    publish = operations[("/api/v1/datasets/{pid}/publish", "post")]
    listing = operations[("/api/v1/datasets/", "get")]

    assert create["requestBody"]["content"]["application/json"]["examples"]
    assert publish["requestBody"]["content"]["application/json"]["examples"]
    created = token["responses"]["201"]["content"]["application/json"]
    assert "secret" in next(iter(created["examples"].values()))["value"]
    page = next(
        iter(listing["responses"]["200"]["content"]["application/json"]["examples"].values())
    )
    assert page["value"]["results"][0]["pid"].startswith("oem-")


def test_filters_and_pagination_are_documented(schema):
    operations = _operations(schema)
    listing = {p["name"] for p in operations[("/api/v1/datasets/", "get")]["parameters"]}
    files = {p["name"] for p in operations[("/api/v1/datasets/{pid}/files/", "get")]["parameters"]}
    manifest = operations[("/api/v1/datasets/{pid}/manifest", "get")]

    assert listing >= {
        "q",
        "facility",
        "instrument",
        "technique",
        "visibility",
        "status",
        "keyword",
        "created_after",
        "created_before",
        "ordering",
        "page",
    }
    assert files >= {"prefix", "format", "state", "cursor", "ordering", "page_size"}
    assert set(manifest["responses"]["200"]["content"]) == {
        "text/plain",
        "application/json",
        "application/x-ndjson",
    }


def test_schema_and_viewers_are_served_without_a_cdn(db):
    client = Client()
    served = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    docs = client.get("/api/docs/")
    redoc = client.get("/api/redoc/")

    assert served.status_code == 200
    assert served.json()["info"]["title"] == "OpenEM portal API"
    for page, bundle in (
        (docs, "/static/drf_spectacular_sidecar/"),
        (redoc, "/static/vendor/redoc/"),
    ):
        html = page.content.decode()
        assert page.status_code == 200
        assert bundle in html  # Swagger UI from the sidecar, ReDoc as `make assets` writes it
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/api/schema/" in docs.content.decode()


# --- found by the fuzz test (tests/api/test_fuzz.py): what the schema promised and the API did not


def test_generic_errors_are_documented_where_they_can_happen(schema):
    for (path, method), operation in _operations(schema).items():
        responses = operation["responses"]
        if "requestBody" in operation:
            # A body in a media type the endpoint does not read (415), a form too large (413)
            # or that cannot be parsed (400).
            assert {"400", "413", "415"} <= set(responses), (path, method)
        if method == "get" and "page" in {p["name"] for p in operation.get("parameters", [])}:
            assert "404" in responses, (path, method)  # ?page= past the last page


def test_a_deposition_list_is_documented_as_the_plain_list_it_is(schema):
    listing = _operations(schema)[("/api/v1/datasets/{pid}/depositions/", "get")]
    body = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert "page" not in {p["name"] for p in listing.get("parameters", [])}


def test_a_deposition_document_is_documented_in_its_media_types(schema):
    document = _operations(schema)[("/api/v1/datasets/{pid}/depositions/{target}/document", "get")]
    assert set(document["responses"]["200"]["content"]) == {
        "application/json",
        "application/xml",
        "chemical/x-mmcif",
    }


def test_an_optional_facility_homepage_is_not_promised_as_a_uri(schema):
    # An empty homepage is served as "", which is not a "uri".
    homepage = schema["components"]["schemas"]["Facility"]["properties"]["homepage"]
    assert homepage["type"] == "string"
    assert "format" not in homepage

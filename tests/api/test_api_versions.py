"""``GET /api/v1/`` and the version headers of every API response (for ``openem-client``)."""

from __future__ import annotations

from openem.api import versions


def test_the_api_root_announces_its_version_and_the_oldest_client(api_client, db):
    response = api_client.get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == {
        "name": "OpenEM portal API",
        "api_version": versions.API_VERSION,
        "min_client_version": versions.MIN_CLIENT_VERSION,
        "client": "openem-client",
        "schema_url": "http://testserver/api/schema/",
        "docs_url": "http://testserver/api/docs/",
    }
    assert response.headers["OpenEM-API-Version"] == versions.API_VERSION


def test_a_bad_token_does_not_hide_the_api_root(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Token oem_not-a-token")
    assert api_client.get("/api/v1/").json()["api_version"] == versions.API_VERSION


def test_every_api_response_carries_the_versions_errors_too(api_client, db):
    for path, status in [
        ("/api/v1/datasets/", 200),
        ("/api/v1/datasets/oem-0000000000/", 404),
        ("/api/v1/uploads/", 401),
    ]:
        response = api_client.get(path)
        assert response.status_code == status, path
        assert response.headers["OpenEM-API-Version"] == versions.API_VERSION, path
        assert response.headers["OpenEM-Min-Client-Version"] == versions.MIN_CLIENT_VERSION


def test_pages_outside_the_api_do_not(client, db):
    assert "OpenEM-API-Version" not in client.get("/").headers


def test_the_root_takes_only_reads(api_client, db):
    assert api_client.post("/api/v1/", {}).status_code == 405

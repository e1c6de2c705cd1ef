"""The deposition API: the same actions as the page, for scripts, curators only."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from deposition.models import Deposition, DepositionState
from tests.support.personas import PERSONAS


def api(world, persona: str) -> APIClient:
    client = APIClient()
    if persona != "anonymous":
        client.force_authenticate(world[persona])
    return client


def url(dataset, tail: str = "") -> str:
    return f"/api/v1/datasets/{dataset.pid}/depositions/{tail}"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.usefixtures("schemas")
def test_only_curators_and_admins_use_the_deposition_api(world, spa_dataset, persona):
    response = api(world, persona).post(url(spa_dataset, "empiar/validate"))
    if persona in ("curator", "admin"):
        assert response.status_code == 200, response.content
        assert response.json()["state"] == "validated"
    else:
        assert response.status_code in (401, 403, 404)
        assert "error" in response.json()
        assert not Deposition.objects.exists()


@pytest.mark.usefixtures("schemas")
def test_validate_package_submit_and_accession_through_the_api(
    world, spa_dataset, django_capture_on_commit_callbacks
):
    client = api(world, "curator")
    assert client.get(url(spa_dataset)).json() == []
    assert client.get(url(spa_dataset, "empiar/")).status_code == 404

    body = client.post(url(spa_dataset, "empiar/validate")).json()
    assert body["valid"] is True and body["report"]["provenance"]
    assert body["document_url"].endswith("/depositions/empiar/document")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(spa_dataset, "empiar/package"))
    assert response.status_code == 202
    body = client.get(url(spa_dataset, "empiar/")).json()
    assert body["state"] == "packaged" and body["package"]["files"] > 0
    manifest = client.get(url(spa_dataset, "empiar/manifest"))
    entries = json.loads(b"".join(manifest.streaming_content))["entries"]
    assert all(set(e) == {"path", "size", "sha256", "source"} for e in entries)

    plan = client.post(url(spa_dataset, "empiar/entry"), {}, format="json").json()
    assert plan["requests"][0]["dry_run"] is True
    assert plan["requests"][0]["request"]["url"].endswith("/deposit_entry/")

    conflict = client.post(url(spa_dataset, "empiar/accession"), {"accession": "EMPIAR-12345"})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "conflict"
    assert client.post(url(spa_dataset, "empiar/submitted"), {"note": "ascp"}).status_code == 200
    bad = client.post(url(spa_dataset, "empiar/accession"), {"accession": "EMD-1"})
    assert bad.status_code == 400
    done = client.post(url(spa_dataset, "empiar/accession"), {"accession": "EMPIAR-12345"})
    assert done.json()["state"] == DepositionState.ACCESSIONED
    spa_dataset.refresh_from_db()
    assert spa_dataset.empiar_id == "EMPIAR-12345"


@pytest.mark.usefixtures("schemas")
def test_the_document_says_whether_it_validates(world, ingest, tmp_path):
    from tests.support.deposition import spa_files

    dataset = ingest(files=spa_files(tmp_path)[-1:], metadata={})
    client = api(world, "admin")
    body = client.post(url(dataset, "empiar/validate")).json()
    assert body["valid"] is False and body["state"] == "draft"
    issue = next(i for i in body["report"]["issues"] if i["path"] == "$.authors")
    assert issue["fix_url"].endswith("/metadata/edit#f-organizational-authors")
    response = client.get(url(dataset, "empiar/document"))
    assert response["X-OpenEM-Valid"] == "false"
    assert "INVALID-" in response["Content-Disposition"]
    assert client.post(url(dataset, "empiar/package")).status_code == 409


def test_unknown_archive(world, spa_dataset):
    response = api(world, "curator").post(url(spa_dataset, "pdb/validate"))
    assert response.status_code == 404

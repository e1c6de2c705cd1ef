"""The persona x visibility x action matrix of tests/repository/test_access.py, through the API.

The expectations are that module's hand-written table: the API must agree with it for every
persona (authenticated with real API tokens), every visibility state and every action it offers.
A refusal says as little as it must: a dataset the persona may not see is 404; one it may see
but not act on is 401 for anonymous requests and 403 otherwise.
"""

from __future__ import annotations

import hashlib

import pytest

from repository.access import Action
from repository.models import AuditAction, AuditEvent, Dataset, DatasetStatus, Visibility
from storage import get_store
from tests.factories import CITABLE_METADATA
from tests.support.access_matrix import EXPECTED, INSIDERS, make_dataset
from tests.support.api import error_of
from tests.support.personas import PERSONAS

STATES = list(EXPECTED)
CASES = [(state, persona) for state in STATES for persona in PERSONAS]
CONTENT = b"EER frames of a test movie\n" * 40


def _refusal(state: str, persona: str) -> tuple[int, str]:
    if persona not in EXPECTED[state][Action.VIEW]:
        return 404, "not_found"
    if persona == "anonymous":
        return 401, "not_authenticated"
    return 403, "permission_denied"


def _with_stored_file(world, state: str) -> Dataset:
    dataset = make_dataset(world, state)
    datafile = dataset.files.get()
    get_store().put(datafile.storage_key, CONTENT)
    datafile.checksum_sha256 = hashlib.sha256(CONTENT).hexdigest()
    datafile.save(update_fields=["checksum_sha256"])
    return dataset


@pytest.mark.parametrize(("state", "persona"), CASES)
def test_view_detail_and_listing(world, client_for, state, persona):
    dataset = make_dataset(world, state)
    client = client_for(persona)
    allowed = persona in EXPECTED[state][Action.VIEW]

    detail = client.get(f"/api/v1/datasets/{dataset.pid}/")
    listing = client.get("/api/v1/datasets/", {"page_size": 200})

    listed = {item["pid"] for item in listing.json()["results"]}
    assert (dataset.pid in listed) is allowed
    if allowed:
        assert detail.status_code == 200
        assert detail.json()["pid"] == dataset.pid
        assert detail.json()["visibility"] == dataset.visibility
    else:
        assert detail.status_code == 404
        assert error_of(detail)["code"] == "not_found"


@pytest.mark.parametrize(("state", "persona"), CASES)
def test_list_files(world, client_for, state, persona):
    dataset = make_dataset(world, state)
    path = dataset.files.get().path

    response = client_for(persona).get(f"/api/v1/datasets/{dataset.pid}/files/")

    if persona in EXPECTED[state][Action.LIST_FILES]:
        assert response.status_code == 200
        assert [item["path"] for item in response.json()["results"]] == [path]
    else:
        status, code = _refusal(state, persona)
        assert response.status_code == status
        assert error_of(response)["code"] == code


@pytest.mark.parametrize(("state", "persona"), CASES)
def test_manifest(world, client_for, local_storage, state, persona):
    dataset = _with_stored_file(world, state)
    datafile = dataset.files.get()

    response = client_for(persona).get(f"/api/v1/datasets/{dataset.pid}/manifest")

    if persona in EXPECTED[state][Action.LIST_FILES]:
        assert response.status_code == 200
        body = b"".join(response.streaming_content).decode()
        assert body == f"{datafile.checksum_sha256}  {datafile.path}\n"
    else:
        status, code = _refusal(state, persona)
        assert response.status_code == status
        assert error_of(response)["code"] == code


@pytest.mark.parametrize(("state", "persona"), CASES)
def test_download(world, client_for, local_storage, state, persona):
    dataset = _with_stored_file(world, state)
    datafile = dataset.files.get()
    audited_before = AuditEvent.objects.filter(action=AuditAction.DOWNLOAD).count()

    response = client_for(persona).get(
        f"/api/v1/datasets/{dataset.pid}/files/{datafile.pk}/download"
    )

    audited = AuditEvent.objects.filter(action=AuditAction.DOWNLOAD).count() - audited_before
    if persona in EXPECTED[state][Action.DOWNLOAD]:
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == CONTENT
        # Files that are not open to everyone leave a trace of who took them.
        files_open = state in {"public", "embargoed_after_date"}
        assert audited == (0 if files_open else 1)
        if not files_open:
            event = AuditEvent.objects.filter(action=AuditAction.DOWNLOAD).latest("pk")
            assert event.actor == world[persona]
            assert event.dataset_id == dataset.pk
    else:
        status, code = _refusal(state, persona)
        assert response.status_code == status
        assert error_of(response)["code"] == code
        assert audited == 0


@pytest.mark.parametrize(("state", "persona"), CASES)
def test_set_visibility(world, client_for, state, persona):
    dataset = make_dataset(world, state)

    response = client_for(persona).post(
        f"/api/v1/datasets/{dataset.pid}/visibility", {"visibility": "public"}, format="json"
    )

    dataset.refresh_from_db()
    if persona in EXPECTED[state][Action.PUBLISH]:
        assert response.status_code == 200
        assert response.json()["visibility"] == "public"
        assert dataset.visibility == Visibility.PUBLIC
        assert AuditEvent.objects.filter(
            dataset=dataset, action=AuditAction.VISIBILITY, actor=world[persona]
        ).exists()
    else:
        if persona == "anonymous":
            status, code = 401, "not_authenticated"
        else:
            status, code = _refusal(state, persona)
        assert response.status_code == status
        assert error_of(response)["code"] == code
        assert dataset.visibility != Visibility.PUBLIC or state == "public"


@pytest.mark.parametrize("persona", PERSONAS)
def test_publish_an_unpublished_dataset(world, client_for, persona):
    dataset = make_dataset(world, "private")
    Dataset.objects.filter(pk=dataset.pk).update(
        status=DatasetStatus.READY, metadata=CITABLE_METADATA
    )

    response = client_for(persona).post(
        f"/api/v1/datasets/{dataset.pid}/publish", {"visibility": "public"}, format="json"
    )

    dataset.refresh_from_db()
    if persona in {"curator", "admin"}:
        assert response.status_code == 200
        assert response.json()["status"] == "published"
        assert dataset.status == DatasetStatus.PUBLISHED
        assert dataset.published_at is not None
    else:
        # An unpublished dataset is seen by insiders only; outsiders learn nothing of it.
        expected = (
            (401, "not_authenticated")
            if persona == "anonymous"
            else (403, "permission_denied")
            if persona in INSIDERS
            else (404, "not_found")
        )
        assert (response.status_code, error_of(response)["code"]) == expected
        assert dataset.status == DatasetStatus.READY

"""Service-account tokens with the 'facility_upload' scope (``openem watch`` at the microscope):
they create datasets and upload sessions in their one facility, read only what uploading needs
there, and nothing else, even when their user may do more."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from ingest.models import UploadSession
from openem.errors import NotAllowed, ValidationFailed
from repository import tokens
from repository.models import (
    ApiToken,
    DataFile,
    Dataset,
    DatasetStatus,
    FacilityRole,
    FileState,
    TokenScope,
    Visibility,
)
from repository.services import dataset_create
from tests.factories import (
    DatasetFactory,
    FacilityMembershipFactory,
    ProjectFactory,
    UserFactory,
)
from tests.support.api import error_of, stored_file

DATASETS = "/api/v1/datasets/"
UPLOADS = "/api/v1/uploads/"


@pytest.fixture
def robot(world: Any) -> Any:
    """A service account that is staff of both facilities (its token is for one of them)."""
    user = UserFactory(username="krios-watch")
    FacilityMembershipFactory(user=user, facility=world.facility, role=FacilityRole.STAFF)
    FacilityMembershipFactory(user=user, facility=world.other_facility, role=FacilityRole.STAFF)
    return user


def client_with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def scoped(world: Any, robot: Any) -> APIClient:
    _token, secret = tokens.token_create(
        user=robot,
        name="watch on krios1",
        scope=TokenScope.FACILITY_UPLOAD,
        facility=world.facility,
    )
    return client_with(secret)


@pytest.fixture
def elsewhere(world: Any, robot: Any) -> Dataset:
    """A published public dataset of the other facility: anyone may read it, not the token."""
    return DatasetFactory(facility=world.other_facility, owner=robot, title="Zurich open data")


@pytest.fixture
def home(world: Any, robot: Any) -> Dataset:
    return dataset_create(
        actor=robot, facility=world.facility, technique="spa", title="Krios 1 session 7"
    )


def test_creates_a_dataset_and_uploads_in_its_facility(
    world: Any, scoped: APIClient, local_storage: Any
) -> None:
    created = scoped.post(
        DATASETS,
        {
            "title": "EPU session 42",
            "facility": "basel",
            "technique": "spa",
            "instrument": world.instrument.pk,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pid = created.json()["pid"]
    session = scoped.post(UPLOADS, {"dataset": pid, "acquiring": True}, format="json")
    assert session.status_code == 201, session.content
    assert session.json()["acquiring"] is True
    content = b"EPU sidecar " * 100
    registered = scoped.post(
        f"{UPLOADS}{session.json()['id']}/files/",
        {"files": [{"path": "Images-Disc1/a.xml", "size": len(content)}]},
        format="json",
    )
    assert registered.status_code == 201, registered.content
    upload = registered.json()["files"][0]["upload"]
    sent = scoped.put(
        upload["url"],
        content,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-{len(content) - 1}/{len(content)}",
    )
    assert sent.status_code == 200, sent.content
    listed = scoped.get(f"{DATASETS}{pid}/files/")
    assert listed.status_code == 200
    assert [f["path"] for f in listed.json()["results"]] == ["Images-Disc1/a.xml"]
    done = scoped.post(f"{UPLOADS}{session.json()['id']}/complete")
    assert done.status_code == 200, done.content
    assert UploadSession.objects.get(pk=session.json()["id"]).state == "completed"
    assert Dataset.objects.get(pid=pid).owner.username == "krios-watch"


def test_cannot_create_or_upload_in_another_facility(
    world: Any, robot: Any, scoped: APIClient
) -> None:
    before = Dataset.objects.count()
    refused = scoped.post(
        DATASETS, {"title": "x", "facility": "scopem", "technique": "spa"}, format="json"
    )
    assert refused.status_code == 403
    assert "cannot create datasets" in error_of(refused)["message"]
    assert Dataset.objects.count() == before
    theirs = dataset_create(
        actor=robot, facility=world.other_facility, technique="spa", title="Zurich draft"
    )
    session = scoped.post(UPLOADS, {"dataset": theirs.pid}, format="json")
    assert session.status_code == 404
    assert not UploadSession.objects.filter(dataset=theirs).exists()
    # A session the same user opened there (in a browser) is invisible to the token.
    other_session = UploadSession.objects.create(dataset=theirs, created_by=robot)
    assert scoped.get(f"{UPLOADS}{other_session.pk}/").status_code == 404
    assert scoped.post(f"{UPLOADS}{other_session.pk}/complete").status_code == 404
    assert scoped.get(UPLOADS).json()["results"] == []
    other_session.refresh_from_db()
    assert other_session.state == "open"


def test_reads_nothing_outside_its_facility(
    scoped: APIClient, elsewhere: Dataset, home: Dataset
) -> None:
    assert scoped.get(f"{DATASETS}{elsewhere.pid}/").status_code == 404
    assert scoped.get(f"{DATASETS}{elsewhere.pid}/files/").status_code == 404
    listed = scoped.get(DATASETS)
    assert listed.status_code == 200
    assert [d["pid"] for d in listed.json()["results"]] == [home.pid]
    assert listed.json()["count"] == 1
    # Anyone else sees the public dataset: the token is confined, not the data hidden.
    assert APIClient().get(f"{DATASETS}{elsewhere.pid}/").status_code == 200
    ProjectFactory(facility=elsewhere.facility, principal_investigator=elsewhere.owner)
    projects = scoped.get("/api/v1/projects/").json()["results"]
    assert [p["facility"]["slug"] for p in projects] == ["basel"]


def test_cannot_download_publish_or_make_tokens_even_at_home(
    world: Any, scoped: APIClient, home: Dataset, local_storage: Any
) -> None:
    datafile = stored_file(home, "Images-Disc1/movie.mrc", b"\0" * 4096)
    forbidden = [
        scoped.get(f"{DATASETS}{home.pid}/files/{datafile.pk}/download"),
        scoped.get(f"{DATASETS}{home.pid}/files/{datafile.pk}/"),
        scoped.get(f"{DATASETS}{home.pid}/manifest"),
        scoped.post(f"{DATASETS}{home.pid}/publish", {}, format="json"),
        scoped.post(f"{DATASETS}{home.pid}/visibility", {"visibility": "public"}, format="json"),
        scoped.post("/api/v1/tokens/", {"name": "more"}, format="json"),
        scoped.get(f"/api/v1/datasets/{home.pid}/depositions/"),
    ]
    for response in forbidden:
        assert response.status_code == 403, (response.request["PATH_INFO"], response.content)
        error = error_of(response)
        assert error["code"] in ("token_facility_upload_only", "permission_denied"), error
    home.refresh_from_db()
    assert home.status != DatasetStatus.PUBLISHED
    assert home.visibility == Visibility.PRIVATE
    assert ApiToken.objects.count() == 1
    assert DataFile.objects.get(pk=datafile.pk).state == FileState.READY


def test_the_same_user_with_another_token_is_not_confined(
    world: Any, robot: Any, scoped: APIClient, elsewhere: Dataset
) -> None:
    _token, secret = tokens.token_create(user=robot, name="browser", scope=TokenScope.READ_WRITE)
    assert scoped.get(f"{DATASETS}{elsewhere.pid}/").status_code == 404
    assert client_with(secret).get(f"{DATASETS}{elsewhere.pid}/").status_code == 200
    assert scoped.get(f"{DATASETS}{elsewhere.pid}/").status_code == 404


def test_token_rules(world: Any, robot: Any) -> None:
    with pytest.raises(ValidationFailed, match="needs the facility"):
        tokens.token_create(user=robot, name="x", scope=TokenScope.FACILITY_UPLOAD)
    with pytest.raises(ValidationFailed, match="only 'facility_upload'"):
        tokens.token_create(user=robot, name="x", scope=TokenScope.READ, facility=world.facility)
    with pytest.raises(NotAllowed, match="not staff of Cryo-EM Facility Basel"):
        tokens.token_create(
            user=world["member"],
            name="x",
            scope=TokenScope.FACILITY_UPLOAD,
            facility=world.facility,
        )
    assert not ApiToken.objects.exists()


def test_api_and_profile_create_facility_tokens(world: Any, robot: Any, client: Any) -> None:
    api = APIClient()
    api.force_login(robot)
    made = api.post(
        "/api/v1/tokens/",
        {"name": "watch", "scope": "facility_upload", "facility": "basel"},
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["facility"] == "basel"
    assert made.json()["scope"] == "facility_upload"
    refused = api.post(
        "/api/v1/tokens/", {"name": "watch", "scope": "facility_upload"}, format="json"
    )
    assert refused.status_code == 400
    client.force_login(robot)
    page = client.post(
        "/accounts/profile/",
        {"name": "watch 2", "scope": "facility_upload", "facility": "scopem"},
    )
    assert page.status_code == 200
    token = ApiToken.objects.get(name="watch 2")
    assert token.facility == world.other_facility
    assert "Uploads to one facility: ScopeM Zurich" in page.content.decode()


def test_service_token_command(world: Any) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out, err = StringIO(), StringIO()
    call_command("service_token", facility="basel", user="krios2-watch", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    token = tokens.token_authenticate(secret)
    assert token.scope == TokenScope.FACILITY_UPLOAD and token.facility == world.facility
    assert not token.user.has_usable_password()
    assert "staff of Cryo-EM Facility Basel" in err.getvalue()
    with pytest.raises(CommandError, match="facilities: basel, scopem"):
        call_command("service_token", facility="x", user="y", stdout=out, stderr=err)

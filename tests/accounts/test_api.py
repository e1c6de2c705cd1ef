"""The people API (for facilities' user-office systems), with real API tokens: the same
services and rules as the pages, every change audited, errors in the one JSON shape."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import AccessRequest, Invitation
from repository import tokens
from repository.models import AuditEvent, FacilityMembership, ProjectMembership, TokenScope
from tests.factories import UserFactory
from tests.support.api import (
    client_for,  # noqa: F401
    error_of,
)

pytestmark = pytest.mark.django_db


def test_a_curator_manages_the_facility_through_the_api(world: Any, client_for: Any) -> None:  # noqa: F811
    api = client_for("curator")
    people = api.get("/api/v1/facilities/basel/people/").json()
    assert {(p["person"]["username"], p["role"]) for p in people} == {
        ("curator", "curator"),
        ("staff", "staff"),
    }
    staff = world["staff"]
    response = api.patch(f"/api/v1/facilities/basel/people/{staff.pk}/", {"role": "curator"})
    assert response.status_code == 200 and response.json()["role"] == "curator"
    assert api.delete(f"/api/v1/facilities/basel/people/{staff.pk}/").status_code == 204
    assert not FacilityMembership.objects.filter(user=staff).exists()

    created = api.post(
        "/api/v1/facilities/basel/invitations/",
        {"email": "ops@unibas.ch", "role": "staff", "via": "eduid"},
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (
        body["state"] == "open" and body["facility"] == "basel" and "/invitations/" in body["link"]
    )
    listed = api.get("/api/v1/facilities/basel/invitations/").json()
    assert [i["id"] for i in listed] == [body["id"]] and "link" not in listed[0]
    assert api.delete(f"/api/v1/invitations/{body['id']}/").status_code == 204
    assert Invitation.objects.get().state == "revoked"
    again = api.delete(f"/api/v1/invitations/{body['id']}/")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    assert AuditEvent.objects.filter(action="access").count() == 4


def test_requests_are_decided_through_the_api(world: Any, client_for: Any) -> None:  # noqa: F811
    person = UserFactory(username="asks")
    request = AccessRequest.objects.create(user=person, facility=world.facility, role="staff")
    api = client_for("curator")
    assert [r["id"] for r in api.get("/api/v1/facilities/basel/access-requests/").json()] == [
        request.pk
    ]
    url = f"/api/v1/facilities/basel/access-requests/{request.pk}/decision"
    assert api.post(url, {"approve": "maybe"}).status_code == 400
    response = api.post(url, {"approve": True})
    assert response.status_code == 200 and response.json()["state"] == "approved"
    assert FacilityMembership.objects.get(user=person).role == "staff"
    assert api.post(url, {"approve": False}).status_code == 409


def test_the_pi_manages_members_through_the_api(world: Any, client_for: Any) -> None:  # noqa: F811
    world.personas["pi"] = world.project.principal_investigator
    api = client_for("pi")
    code = world.project.code
    members = api.get(f"/api/v1/projects/{code}/members/").json()
    assert [m["username"] for m in members] == ["member"]
    created = api.post(f"/api/v1/projects/{code}/invitations/", {"email": "new@example.org"})
    assert created.status_code == 201 and created.json()["role"] == "member"
    member = world["member"]
    assert api.delete(f"/api/v1/projects/{code}/members/{member.pk}/").status_code == 204
    assert not ProjectMembership.objects.filter(user=member).exists()
    missing = api.delete(f"/api/v1/projects/{code}/members/{member.pk}/")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    # the PI manages the project, not the facility
    assert api.get("/api/v1/facilities/basel/people/").status_code == 403


@pytest.mark.parametrize("persona", ["stranger", "member", "staff", "other_staff"])
def test_nobody_else_manages_people(world: Any, client_for: Any, persona: str) -> None:  # noqa: F811
    api = client_for(persona)
    code = world.project.code
    for response in (
        api.get("/api/v1/facilities/basel/people/"),
        api.post("/api/v1/facilities/basel/invitations/", {"email": "x@example.org"}),
        api.delete(f"/api/v1/facilities/basel/people/{world['curator'].pk}/"),
    ):
        assert response.status_code == 403, response.json()
        assert error_of(response)["code"] == "permission_denied"
    # a project is not even named to those who may not see it
    project = api.post(f"/api/v1/projects/{code}/invitations/", {"email": "x@example.org"})
    assert project.status_code in (403, 404)
    assert not Invitation.objects.exists()
    assert FacilityMembership.objects.filter(user=world["curator"]).exists()


def test_tokens_that_may_not_write_cannot_manage(world: Any, client_for: Any) -> None:  # noqa: F811
    read_only = client_for("curator", scope=TokenScope.READ)
    assert read_only.get("/api/v1/facilities/basel/people/").status_code == 200
    response = read_only.post("/api/v1/facilities/basel/invitations/", {"email": "x@example.org"})
    assert response.status_code == 403 and error_of(response)["code"] == "token_read_only"
    _, secret = tokens.token_create(
        user=world["curator"],
        name="ingest pc",
        scope=TokenScope.FACILITY_UPLOAD,
        facility=world.facility,
    )
    service = APIClient()
    service.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = service.get("/api/v1/facilities/basel/people/")
    assert (
        response.status_code == 403 and error_of(response)["code"] == "token_facility_upload_only"
    )
    anonymous = client_for("anonymous").get("/api/v1/facilities/basel/people/")
    assert anonymous.status_code == 401


def test_bad_input_is_a_400_with_the_field(world: Any, client_for: Any) -> None:  # noqa: F811
    api = client_for("curator")
    response = api.post(
        "/api/v1/facilities/basel/invitations/", {"email": "not-an-address", "role": "boss"}
    )
    assert response.status_code == 400
    assert set(error_of(response)["details"]) == {"email", "role"}
    response = api.patch(f"/api/v1/facilities/basel/people/{world['staff'].pk}/", {"role": ""})
    assert response.status_code == 400
    assert api.get("/api/v1/facilities/nowhere/people/").status_code == 404
    assert api.delete("/api/v1/facilities/basel/people/999999/").status_code == 404
    assert not Invitation.objects.exists()

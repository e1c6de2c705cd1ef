"""People and roles without the Django admin: invitations (by e-mail or edu-ID, expiring,
single use), removal, role changes, requests, the pages, and the audit trail of each."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.utils import timezone

from accounts import selectors, services
from accounts.models import AccessRequest, Invitation
from openem.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from repository.models import AuditEvent, FacilityMembership, FacilityRole, ProjectMembership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def changes() -> list[str]:
    return list(
        AuditEvent.objects.filter(action="access")
        .order_by("created", "pk")
        .values_list("details__change", flat=True)
    )


def test_the_pi_invites_and_the_invitee_accepts_once(
    world: Any, mailoutbox: Any, django_capture_on_commit_callbacks: Any
) -> None:
    pi = world.project.principal_investigator
    invitee = UserFactory(username="newcomer")
    with django_capture_on_commit_callbacks(execute=True):
        invitation, secret = services.invitation_create(
            actor=pi, email="newcomer@example.org", project=world.project
        )
    assert len(mailoutbox) == 1 and secret in mailoutbox[0].body
    assert Invitation.objects.get().secret_sha256 != secret  # only a digest is stored
    services.invitation_accept(user=invitee, secret=secret)
    assert ProjectMembership.objects.filter(user=invitee, project=world.project).exists()
    with pytest.raises(Conflict, match="accepted"):
        services.invitation_accept(user=UserFactory(username="late"), secret=secret)
    assert changes() == ["invited", "invitation_accepted"]


@pytest.mark.parametrize("persona", ["stranger", "member", "staff", "other_staff", "anonymous"])
def test_only_the_pi_and_the_facility_curators_invite_into_a_project(
    world: Any, persona: str
) -> None:
    with pytest.raises(NotAllowed):
        services.invitation_create(
            actor=world[persona], email="x@example.org", project=world.project
        )
    assert not Invitation.objects.exists() and not changes()


def test_a_curator_of_the_facility_may_invite_into_its_projects(world: Any) -> None:
    services.invitation_create(actor=world["curator"], email="x@example.org", project=world.project)
    assert Invitation.objects.count() == 1


@pytest.mark.parametrize("persona", ["staff", "other_staff", "member", "stranger"])
def test_only_curators_invite_facility_staff(world: Any, persona: str) -> None:
    with pytest.raises(NotAllowed):
        services.invitation_create(
            actor=world[persona], email="x@example.org", facility=world.facility, role="staff"
        )


def test_a_curator_invites_a_curator(world: Any) -> None:
    person = UserFactory(username="second")
    _, secret = services.invitation_create(
        actor=world["curator"], email="s@example.org", facility=world.facility, role="curator"
    )
    services.invitation_accept(user=person, secret=secret)
    assert FacilityMembership.objects.get(user=person, facility=world.facility).role == "curator"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"email": "not an address"}, "not an e-mail address"),
        ({"email": "a@example.org", "role": "owner"}, "staff or curator"),
        ({"email": "a@example.org", "via": "pigeon"}, "via must be one of"),
    ],
)
def test_bad_invitations_are_refused(world: Any, kwargs: dict[str, str], error: str) -> None:
    kwargs = {"role": "staff", **kwargs}
    with pytest.raises(ValidationFailed, match=error):
        services.invitation_create(actor=world["curator"], facility=world.facility, **kwargs)
    assert not Invitation.objects.exists()


def test_an_expired_or_revoked_or_unknown_link_grants_nothing(world: Any) -> None:
    pi, person = world.project.principal_investigator, UserFactory(username="late")
    expired, expired_secret = services.invitation_create(
        actor=pi, email="a@example.org", project=world.project
    )
    Invitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with pytest.raises(Conflict, match="expired"):
        services.invitation_accept(user=person, secret=expired_secret)
    revoked, revoked_secret = services.invitation_create(
        actor=pi, email="b@example.org", project=world.project
    )
    services.invitation_revoke(actor=pi, invitation=revoked)
    with pytest.raises(Conflict, match="revoked"):
        services.invitation_accept(user=person, secret=revoked_secret)
    with pytest.raises(NotFound):
        services.invitation_accept(user=person, secret="made-up")
    with pytest.raises(NotAllowed):
        services.invitation_accept(user=world["anonymous"], secret=revoked_secret)
    assert not ProjectMembership.objects.filter(user=person).exists()


def test_an_edu_id_invitation_needs_an_edu_id_sign_in(world: Any, settings: Any) -> None:
    from tests.support.oidc import oidc_apps

    settings.SOCIALACCOUNT_PROVIDERS = oidc_apps("http://127.0.0.1:9")
    person = UserFactory(username="local-only")
    _, secret = services.invitation_create(
        actor=world["curator"], email="e@example.org", project=world.project, via="eduid"
    )
    with pytest.raises(NotAllowed, match="edu-ID"):
        services.invitation_accept(user=person, secret=secret)
    SocialAccount.objects.create(user=person, provider="eduid", uid="pairwise-x")
    services.invitation_accept(user=person, secret=secret)
    assert ProjectMembership.objects.filter(user=person, project=world.project).exists()


def test_removal_and_roles(world: Any) -> None:
    pi, curator, staff = world.project.principal_investigator, world["curator"], world["staff"]
    with pytest.raises(NotAllowed):
        services.project_member_remove(actor=staff, project=world.project, user=world["member"])
    services.project_member_remove(actor=pi, project=world.project, user=world["member"])
    assert not ProjectMembership.objects.filter(user=world["member"]).exists()
    with pytest.raises(NotFound):
        services.project_member_remove(actor=pi, project=world.project, user=world["member"])
    services.facility_role_set(actor=curator, facility=world.facility, user=staff, role="curator")
    services.facility_role_set(actor=curator, facility=world.facility, user=staff, role="staff")
    with pytest.raises(ValidationFailed):
        services.facility_role_set(actor=curator, facility=world.facility, user=staff, role="boss")
    # the last curator stays (a site admin may still change that)
    with pytest.raises(Conflict, match="at least one curator"):
        services.facility_member_remove(actor=curator, facility=world.facility, user=curator)
    services.facility_member_remove(actor=curator, facility=world.facility, user=staff)
    assert not FacilityMembership.objects.filter(user=staff).exists()
    assert changes() == ["member_removed", "role_changed", "role_changed", "role_removed"]
    removed = AuditEvent.objects.filter(details__change="role_removed").get()
    assert removed.actor == curator and removed.details["username"] == "staff"


def test_a_curator_decides_a_request(world: Any) -> None:
    person = UserFactory(username="asks")
    request = AccessRequest.objects.create(user=person, facility=world.facility, role="staff")
    with pytest.raises(NotAllowed):
        services.access_request_decide(actor=world["other_staff"], request=request, approve=True)
    services.access_request_decide(actor=world["curator"], request=request, approve=True)
    assert FacilityMembership.objects.get(user=person).role == FacilityRole.STAFF
    with pytest.raises(Conflict):
        services.access_request_decide(actor=world["curator"], request=request, approve=False)


def test_who_has_access_to_what(world: Any) -> None:
    facilities, projects = selectors.access_overview(world["curator"])
    assert [f.facility.slug for f in facilities] == ["basel"] and not projects
    entry = facilities[0]
    assert {m.user.username for m in entry.memberships} == {"staff", "curator"}
    assert [p.members for p in entry.projects] == [[world["member"]]]
    facilities, projects = selectors.access_overview(world.project.principal_investigator)
    assert not facilities and [p.project for p in projects] == [world.project]
    assert selectors.access_overview(world["member"]) == ([], [])


def test_the_pages_refuse_people_who_manage_nothing(client: Client, world: Any) -> None:
    client.force_login(world["member"])
    assert client.get(f"/people/projects/{world.project.code}/").status_code == 404
    assert client.get("/people/facilities/basel/").status_code == 404
    response = client.post(
        f"/people/projects/{world.project.code}/", {"action": "remove", "user": world["member"].pk}
    )
    assert response.status_code == 404
    assert ProjectMembership.objects.filter(user=world["member"]).exists()


def test_the_facility_page_invites_and_shows_requests(client: Client, world: Any) -> None:
    AccessRequest.objects.create(
        user=UserFactory(username="asks"), facility=world.facility, role="staff"
    )
    client.force_login(world["curator"])
    page = client.get("/people/facilities/basel/").content.decode()
    assert 'data-request="asks"' in page and 'data-person="staff"' in page
    response = client.post(
        "/people/facilities/basel/",
        {"action": "invite", "email": "new@example.org", "via": "email", "role": "curator"},
        follow=True,
    )
    assert "Invitation sent to new@example.org" in response.content.decode()
    assert Invitation.objects.get().role == "curator"
    # a bad address is a message, not an error page
    response = client.post(
        "/people/facilities/basel/",
        {"action": "invite", "email": "nope", "via": "email", "role": "staff"},
    )
    assert (
        response.status_code == 200 and "Enter a valid email address" in response.content.decode()
    )
    assert Invitation.objects.count() == 1


def test_an_invitation_page_that_is_used_says_so(client: Client, world: Any) -> None:
    invitation, secret = services.invitation_create(
        actor=world["curator"], email="x@example.org", project=world.project
    )
    services.invitation_revoke(actor=world["curator"], invitation=invitation)
    response = client.get(f"/invitations/{secret}/")
    assert response.status_code == 410 and "This invitation is revoked" in response.content.decode()
    assert client.get("/invitations/not-a-secret/").status_code == 404

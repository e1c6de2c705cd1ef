"""Reads about people: sign-in providers, linked identities, the verified ORCID iD, and who
has access to what."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse

from metadata.identifiers import orcid_checksum_ok
from metadata.oscem import ORCID_PATTERN
from repository import access
from repository.models import (
    Dataset,
    DatasetStatus,
    Facility,
    FacilityMembership,
    Project,
    ProjectMembership,
    Visibility,
)

from .models import AccessRequest, Invitation, RequestState


@dataclass(frozen=True)
class LoginProvider:
    provider_id: str
    label: str
    kind: str  # "eduid", "orcid" or "oidc"
    discovery_url: str

    @property
    def login_url(self) -> str:
        return reverse("openid_connect_login", kwargs={"provider_id": self.provider_id})


def login_providers() -> list[LoginProvider]:
    """The configured OpenID Connect providers (none: local accounts only)."""
    config: dict[str, Any] = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {})
    apps: list[dict[str, Any]] = config.get("APPS", [])
    return [
        LoginProvider(
            provider_id=app["provider_id"],
            label=app.get("name") or app["provider_id"],
            kind=app.get("settings", {}).get("kind", "oidc"),
            discovery_url=app.get("settings", {}).get("server_url", ""),
        )
        for app in apps
    ]


def provider_origins() -> list[str]:
    """Origins the browser is sent to for signing in (CSP ``form-action``: the sign-in form
    posts here and is redirected to the provider)."""
    origins = []
    for provider in login_providers():
        parsed = urlparse(provider.discovery_url)
        if parsed.scheme and parsed.netloc:
            origins.append(f"{parsed.scheme}://{parsed.netloc}")
    return sorted(set(origins))


def _provider_ids(kind: str) -> list[str]:
    return [p.provider_id for p in login_providers() if p.kind == kind]


def identities_of(user: Any) -> QuerySet[SocialAccount]:
    return SocialAccount.objects.filter(user_id=user.pk).order_by("provider")


def has_identity(user: Any, kind: str) -> bool:
    return SocialAccount.objects.filter(user_id=user.pk, provider__in=_provider_ids(kind)).exists()


def verified_orcid(user: Any) -> str | None:
    """The ORCID iD ``user`` proved by signing in with ORCID (its ``sub``), or None.

    DataCite and signposting take ORCID iDs of creators as given; this one is verified, so
    forms offer it when the user names themselves as a creator."""
    if not access.is_signed_in(user):
        return None
    for uid in SocialAccount.objects.filter(
        user_id=user.pk, provider__in=_provider_ids("orcid")
    ).values_list("uid", flat=True):
        match = ORCID_PATTERN.fullmatch(uid.strip())
        if match and orcid_checksum_ok(match.group(1)):
            return match.group(1)
    return None


# --- Who has access to what --------------------------------------------------------------------


@dataclass
class ProjectAccess:
    project: Project
    members: list[Any]
    private_datasets: int
    can_manage: bool
    open_invitations: list[Invitation] = field(default_factory=list)


@dataclass
class FacilityAccess:
    facility: Facility
    memberships: list[FacilityMembership]
    projects: list[ProjectAccess]
    can_manage: bool
    open_invitations: list[Invitation] = field(default_factory=list)
    pending_requests: list[AccessRequest] = field(default_factory=list)


def open_invitations() -> QuerySet[Invitation]:
    from django.utils import timezone

    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def project_access(project: Project, user: Any) -> ProjectAccess:
    members = [
        m.user
        for m in ProjectMembership.objects.filter(project=project)
        .select_related("user")
        .order_by("user__username")
    ]
    private = Dataset.objects.filter(project=project).exclude(
        status=DatasetStatus.PUBLISHED, visibility=Visibility.PUBLIC
    )
    manage = access.can_manage_project_members(user, project)
    return ProjectAccess(
        project=project,
        members=members,
        private_datasets=private.count(),
        can_manage=manage,
        open_invitations=list(open_invitations().filter(project=project)) if manage else [],
    )


def facility_access(facility: Facility, user: Any) -> FacilityAccess:
    manage = access.can_manage_facility_people(user, facility)
    projects = (
        Project.objects.filter(facility=facility)
        .select_related("principal_investigator")
        .order_by("title")
    )
    return FacilityAccess(
        facility=facility,
        memberships=list(
            FacilityMembership.objects.filter(facility=facility)
            .select_related("user")
            .order_by("role", "user__username")
        ),
        projects=[project_access(p, user) for p in projects],
        can_manage=manage,
        open_invitations=list(open_invitations().filter(facility=facility)) if manage else [],
        pending_requests=list(
            AccessRequest.objects.filter(facility=facility, state=RequestState.PENDING)
            .select_related("user")
            .order_by("created")
        )
        if manage
        else [],
    )


def access_overview(user: Any) -> tuple[list[FacilityAccess], list[ProjectAccess]]:
    """Who has access to what, as far as ``user`` manages it: every facility they curate (its
    staff, curators, projects and their members) and every project they lead elsewhere."""
    facilities = list(access.facilities_managed_by(user).order_by("name"))
    facility_ids = {f.pk for f in facilities}
    projects = (
        access.projects_managed_by(user)
        .exclude(facility_id__in=facility_ids)
        .select_related("principal_investigator", "facility")
        .order_by("title")
    )
    return (
        [facility_access(f, user) for f in facilities],
        [project_access(p, user) for p in projects],
    )


def managed_project(user: Any, code: str) -> Project | None:
    return access.projects_managed_by(user).select_related("facility").filter(code=code).first()


def managed_facility(user: Any, slug: str) -> Facility | None:
    return access.facilities_managed_by(user).filter(slug=slug).first()

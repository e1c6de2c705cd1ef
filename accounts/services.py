"""Every write about people: first sign-ins, invitations, removals, role changes, requests.

Each change is recorded in the audit trail (``repository.services.audit_record``, action
``access``) with who did it, to whom, and where.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from openem.errors import Conflict, NotAllowed, NotFound, ValidationFailed
from openem.site import site_url
from repository import access
from repository.audit import audit_record
from repository.models import (
    AuditAction,
    Facility,
    FacilityMembership,
    FacilityRole,
    Project,
    ProjectMembership,
)

from . import selectors
from .models import (
    AccessRequest,
    FacilitySignupRule,
    Invitation,
    InvitationRole,
    InvitationVia,
    RequestState,
    secret_digest,
)


def _audit(actor: Any, target: Any, change: str, **details: Any) -> None:
    audit_record(
        actor=actor, action=AuditAction.ACCESS, target=target, details={"change": change, **details}
    )


def _person(user: Any) -> dict[str, Any]:
    return {"user_id": user.pk, "username": user.get_username()}


# --- First sign-in ----------------------------------------------------------------------------


def _claims(social_account: Any) -> dict[str, Any]:
    data = social_account.extra_data or {}
    merged: dict[str, Any] = {}
    for part in ("id_token", "userinfo"):
        if isinstance(data.get(part), dict):
            merged.update(data[part])
    return merged


def _affiliations(claims: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for name in ("swissEduIDLinkedAffiliation", "eduPersonScopedAffiliation"):
        value = claims.get(name)
        values = value if isinstance(value, list) else [value] if value else []
        found |= {str(v).strip().lower() for v in values}
    return found


def _matches(rule: FacilitySignupRule, email: str, affiliations: set[str]) -> bool:
    domain = email.rpartition("@")[2].lower()
    wanted = rule.email_domain.strip().lower().lstrip("@")
    if wanted and (domain == wanted or domain.endswith("." + wanted)):
        return True
    return bool(rule.affiliation and rule.affiliation.strip().lower() in affiliations)


@transaction.atomic
def account_signed_up(*, user: Any, social_account: Any) -> list[AccessRequest]:
    """A first sign-in made ``user`` (with no rights). Facilities whose sign-up rule matches the
    e-mail domain or an edu-ID affiliation get a pending request for their curators; nothing
    more."""
    claims = _claims(social_account)
    _audit(
        None,
        user,
        "account_created",
        provider=social_account.provider,
        **_person(user),
    )
    affiliations = _affiliations(claims)
    made = []
    for rule in FacilitySignupRule.objects.select_related("facility"):
        if not _matches(rule, user.email, affiliations):
            continue
        if AccessRequest.objects.filter(
            user=user, facility=rule.facility, state=RequestState.PENDING
        ).exists():
            continue
        request = AccessRequest.objects.create(
            user=user,
            facility=rule.facility,
            role=rule.role,
            reason=f"first sign-in matched {rule}",
        )
        _audit(None, request, "access_requested", facility=rule.facility.slug, role=rule.role)
        made.append(request)
    return made


def identity_linked(*, user: Any, social_account: Any) -> None:
    _audit(user, user, "identity_linked", provider=social_account.provider, **_person(user))


# --- Invitations ------------------------------------------------------------------------------


def _check_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except Exception:
        raise ValidationFailed(f"{email!r} is not an e-mail address") from None
    return email


def invitation_link(secret: str) -> str:
    return site_url() + reverse("accounts:invitation", kwargs={"secret": secret})


def _send_invitation(invitation: Invitation, link: str) -> None:
    what = (
        f"the project {invitation.project.title}"
        if invitation.project
        else f"{invitation.facility} as {invitation.get_role_display().lower()}"
    )
    how = (
        "Sign in with SWITCH edu-ID to accept."
        if invitation.via == InvitationVia.EDUID
        else "Sign in (or create your account with SWITCH edu-ID) to accept."
    )
    send_mail(
        subject=f"OpenEM: you are invited to {what}",
        message=(
            f"{invitation.invited_by} invites you to {what} on the OpenEM portal.\n\n"
            f"{how}\n{link}\n\nThe link works once and expires on "
            f"{timezone.localtime(invitation.expires_at):%Y-%m-%d %H:%M}."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


@transaction.atomic
def invitation_create(
    *,
    actor: Any,
    email: str,
    project: Project | None = None,
    facility: Facility | None = None,
    role: str = InvitationRole.MEMBER,
    via: str = InvitationVia.EMAIL,
) -> tuple[Invitation, str]:
    """Invite someone into a project (by its PI or the facility's curators) or a facility (by
    its curators). Returns the invitation and the link's secret (also e-mailed)."""
    if (project is None) == (facility is None):
        raise ValidationFailed("an invitation is into one project or one facility")
    if project is not None:
        if not access.can_manage_project_members(actor, project):
            raise NotAllowed("only the project's PI and its facility's curators invite members")
        role = InvitationRole.MEMBER
    else:
        assert facility is not None
        if not access.can_manage_facility_people(actor, facility):
            raise NotAllowed("only the facility's curators invite its staff and curators")
        if role not in (FacilityRole.STAFF, FacilityRole.CURATOR):
            raise ValidationFailed("a facility invitation is for staff or curator")
    if via not in InvitationVia.values:
        raise ValidationFailed(f"via must be one of {', '.join(InvitationVia.values)}")
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        email=_check_email(email),
        via=via,
        project=project,
        facility=facility,
        role=role,
        secret_sha256=secret_digest(secret),
        invited_by=actor,
        expires_at=timezone.now() + dt.timedelta(days=settings.OPENEM_INVITATION_DAYS),
    )
    _audit(
        actor,
        invitation,
        "invited",
        email=invitation.email,
        via=via,
        role=role,
        **_where(invitation),
    )
    link = invitation_link(secret)
    transaction.on_commit(lambda: _send_invitation(invitation, link))
    return invitation, secret


def _where(invitation: Invitation) -> dict[str, str]:
    if invitation.project:
        return {"project": invitation.project.code}
    assert invitation.facility
    return {"facility": invitation.facility.slug}


@transaction.atomic
def invitation_accept(*, user: Any, secret: str) -> Invitation:
    """``user`` (signed in) takes up an open invitation: a membership, once."""
    if not access.is_signed_in(user):
        raise NotAllowed("sign in to accept an invitation")
    invitation = (
        Invitation.objects.select_for_update()
        .filter(secret_sha256=secret_digest(secret or ""))
        .first()
    )
    if invitation is None:
        raise NotFound("this invitation link is not valid")
    if invitation.state != "open":
        raise Conflict(f"this invitation is {invitation.state}; ask for a new one")
    if invitation.via == InvitationVia.EDUID and not selectors.has_identity(user, "eduid"):
        raise NotAllowed("this invitation is accepted with SWITCH edu-ID: sign in with edu-ID")
    if invitation.project:
        _, created = ProjectMembership.objects.get_or_create(user=user, project=invitation.project)
    else:
        assert invitation.facility
        membership, created = FacilityMembership.objects.get_or_create(
            user=user, facility=invitation.facility, defaults={"role": invitation.role}
        )
        if not created and membership.role != invitation.role:
            membership.role = invitation.role
            membership.save(update_fields=["role"])
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    _audit(
        user,
        invitation,
        "invitation_accepted",
        role=invitation.role,
        **_person(user),
        **_where(invitation),
    )
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: Any, invitation: Invitation) -> Invitation:
    _check_manages(actor, project=invitation.project, facility=invitation.facility)
    if invitation.state != "open":
        raise Conflict(f"this invitation is {invitation.state} already")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    _audit(actor, invitation, "invitation_revoked", email=invitation.email, **_where(invitation))
    return invitation


def _check_manages(
    actor: Any, *, project: Project | None = None, facility: Facility | None = None
) -> None:
    if project is not None and not access.can_manage_project_members(actor, project):
        raise NotAllowed("only the project's PI and its facility's curators manage its members")
    if facility is not None and not access.can_manage_facility_people(actor, facility):
        raise NotAllowed("only the facility's curators manage its staff and curators")


# --- Removal and roles ------------------------------------------------------------------------


@transaction.atomic
def project_member_remove(*, actor: Any, project: Project, user: Any) -> None:
    _check_manages(actor, project=project)
    membership = ProjectMembership.objects.filter(project=project, user=user).first()
    if membership is None:
        raise NotFound(f"{user.get_username()} is not a member of {project.code}")
    pk = membership.pk
    membership.delete()
    membership.pk = pk
    _audit(actor, membership, "member_removed", project=project.code, **_person(user))


@transaction.atomic
def facility_role_set(*, actor: Any, facility: Facility, user: Any, role: str) -> None:
    _check_manages(actor, facility=facility)
    if role not in FacilityRole.values:
        raise ValidationFailed(f"role must be one of {', '.join(FacilityRole.values)}")
    membership = FacilityMembership.objects.filter(facility=facility, user=user).first()
    if membership is None:
        raise NotFound(f"{user.get_username()} has no role at {facility.slug}")
    if membership.role == role:
        return
    _check_not_last_curator(facility, membership, actor)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    _audit(
        actor,
        membership,
        "role_changed",
        facility=facility.slug,
        old=old,
        new=role,
        **_person(user),
    )


def _check_not_last_curator(facility: Facility, membership: FacilityMembership, actor: Any) -> None:
    if membership.role != FacilityRole.CURATOR or access.is_site_admin(actor):
        return
    others = FacilityMembership.objects.filter(facility=facility, role=FacilityRole.CURATOR)
    if not others.exclude(pk=membership.pk).exists():
        raise Conflict("a facility keeps at least one curator (a site admin can change that)")


@transaction.atomic
def facility_member_remove(*, actor: Any, facility: Facility, user: Any) -> None:
    _check_manages(actor, facility=facility)
    membership = FacilityMembership.objects.filter(facility=facility, user=user).first()
    if membership is None:
        raise NotFound(f"{user.get_username()} has no role at {facility.slug}")
    _check_not_last_curator(facility, membership, actor)
    pk, role = membership.pk, membership.role
    membership.delete()
    membership.pk = pk
    _audit(actor, membership, "role_removed", facility=facility.slug, role=role, **_person(user))


@transaction.atomic
def access_request_decide(*, actor: Any, request: AccessRequest, approve: bool) -> AccessRequest:
    _check_manages(actor, facility=request.facility)
    request = AccessRequest.objects.select_for_update().get(pk=request.pk)
    if request.state != RequestState.PENDING:
        raise Conflict(f"this request was {request.state} already")
    request.state = RequestState.APPROVED if approve else RequestState.DECLINED
    request.decided_at = timezone.now()
    request.decided_by = actor
    request.save(update_fields=["state", "decided_at", "decided_by"])
    if approve:
        try:
            with transaction.atomic():
                FacilityMembership.objects.create(
                    user=request.user, facility=request.facility, role=request.role
                )
        except IntegrityError:
            raise Conflict(
                f"{request.user.get_username()} has a role at {request.facility} already"
            ) from None
    _audit(
        actor,
        request,
        "request_approved" if approve else "request_declined",
        facility=request.facility.slug,
        role=request.role,
        **_person(request.user),
    )
    return request

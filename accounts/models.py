"""Invitations into a project or a facility, facilities' sign-up rules and access requests.

Who is signed in with which provider is allauth's ``SocialAccount`` (its ``uid`` is the
provider's ``sub``; for ORCID that is the ORCID iD, verified by the sign-in itself). Roles are
``repository``'s memberships; this app only adds the ways people get them.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from repository.models import Facility, FacilityRole, Project


def secret_digest(secret: str) -> str:
    """Invitation links carry a secret; only its SHA-256 is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


class InvitationVia(models.TextChoices):
    EMAIL = "email", "E-mail link (any sign-in)"
    EDUID = "eduid", "E-mail link, accepted with SWITCH edu-ID"


class InvitationState(models.TextChoices):
    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class InvitationRole(models.TextChoices):
    MEMBER = "member", "Project member"
    STAFF = FacilityRole.STAFF.value, FacilityRole.STAFF.label
    CURATOR = FacilityRole.CURATOR.value, FacilityRole.CURATOR.label


class Invitation(models.Model):
    """An expiring, single-use link that makes whoever accepts it a project member or a
    facility's staff or curator."""

    email = models.EmailField()
    via = models.CharField(max_length=8, choices=InvitationVia.choices, default="email")
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations"
    )
    facility = models.ForeignKey(
        Facility, on_delete=models.CASCADE, null=True, blank=True, related_name="invitations"
    )
    role = models.CharField(max_length=16, choices=InvitationRole.choices)
    secret_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="accepted_invitations",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(project__isnull=False, facility__isnull=True, role="member"))
                | (
                    Q(project__isnull=True, facility__isnull=False)
                    & Q(role__in=[FacilityRole.STAFF, FacilityRole.CURATOR])
                ),
                name="invitation_into_one_project_or_facility",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} -> {self.target}"

    @property
    def target(self) -> Project | Facility:
        found = self.project or self.facility
        assert found is not None
        return found

    @property
    def state(self) -> str:
        if self.accepted_at:
            return InvitationState.ACCEPTED
        if self.revoked_at:
            return InvitationState.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationState.EXPIRED
        return InvitationState.OPEN


class FacilitySignupRule(models.Model):
    """A first sign-in whose e-mail domain or edu-ID affiliation matches asks the facility's
    curators for a role: it creates a pending request, never the role itself."""

    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="signup_rules")
    email_domain = models.CharField(
        max_length=200, blank=True, help_text="e.g. unibas.ch (sub-domains match too)"
    )
    affiliation = models.CharField(
        max_length=200,
        blank=True,
        help_text="a scoped affiliation from edu-ID, e.g. staff@unibas.ch",
    )
    role = models.CharField(max_length=16, choices=FacilityRole.choices, default=FacilityRole.STAFF)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(email_domain="", affiliation=""),
                name="signup_rule_needs_domain_or_affiliation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email_domain or self.affiliation} -> {self.facility}"


class RequestState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"


class AccessRequest(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_requests"
    )
    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="access_requests")
    role = models.CharField(max_length=16, choices=FacilityRole.choices)
    reason = models.CharField(max_length=300, blank=True)
    state = models.CharField(
        max_length=16, choices=RequestState.choices, default=RequestState.PENDING
    )
    created = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "facility"],
                condition=Q(state="pending"),
                name="one_pending_request_per_facility",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} asks {self.get_role_display()} at {self.facility} ({self.state})"

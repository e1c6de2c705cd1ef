"""Input and output serializers of the people API (no writes here: views call services)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from repository.models import Facility, FacilityMembership, FacilityRole, Project

from ..models import AccessRequest, Invitation, InvitationState, InvitationVia


class PersonSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="pk")
    username = serializers.CharField(source="get_username")
    name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()


class StaffSerializer(serializers.ModelSerializer[FacilityMembership]):
    person = PersonSerializer(source="user")
    role = serializers.ChoiceField(choices=FacilityRole.choices)

    class Meta:
        model = FacilityMembership
        fields = ["person", "role"]


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    project: serializers.SlugRelatedField[Project] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    facility: serializers.SlugRelatedField[Facility] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    invited_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    state = serializers.ChoiceField(choices=InvitationState.choices, read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "email",
            "via",
            "role",
            "project",
            "facility",
            "state",
            "invited_by",
            "created",
            "expires_at",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = fields


class InvitationCreatedSerializer(InvitationSerializer):
    link = serializers.SerializerMethodField(
        help_text="The invitation link (also e-mailed to the address); shown this once."
    )

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link"]
        read_only_fields = fields

    def get_link(self, invitation: Invitation) -> str:
        return str(self.context["link"])


class ProjectInviteInputSerializer(serializers.Serializer[Any]):
    email = serializers.EmailField()
    via = serializers.ChoiceField(
        choices=InvitationVia.choices,
        default=InvitationVia.EMAIL,
        help_text="`email`: accepted with any sign-in; `eduid`: only with SWITCH edu-ID.",
    )


class FacilityInviteInputSerializer(ProjectInviteInputSerializer):
    role = serializers.ChoiceField(choices=FacilityRole.choices, default=FacilityRole.STAFF)


class RoleInputSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=FacilityRole.choices)


class AccessRequestSerializer(serializers.ModelSerializer[AccessRequest]):
    person = PersonSerializer(source="user")
    facility: serializers.SlugRelatedField[Facility] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = AccessRequest
        fields = ["id", "person", "facility", "role", "reason", "state", "created", "decided_at"]
        read_only_fields = fields


class DecisionInputSerializer(serializers.Serializer[Any]):
    approve = serializers.BooleanField(help_text="true: grant the role; false: decline.")

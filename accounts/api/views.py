"""The people API, for facilities' user-office systems: staff and curators of a facility,
members of a project, invitations, requests. Thin: parse with an input serializer, call one
service or selector, render. Who may do what is ``repository.access`` (curators manage their
facility and its projects; a PI manages the project's members); a facility-upload token
cannot use any of it (``TokenScopePermission``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, status
from rest_framework.request import Request
from rest_framework.response import Response

from openem.api.authentication import TokenScopePermission
from openem.api.exceptions import error_responses
from openem.api.views import ApiView
from openem.errors import NotAllowed, NotFound
from repository import access
from repository.models import Facility, FacilityMembership, Project, ProjectMembership

from .. import services
from ..models import AccessRequest, Invitation, RequestState
from ..selectors import open_invitations
from . import docs
from . import serializers as s

AUTHENTICATED = [TokenScopePermission, permissions.IsAuthenticated]
SLUG = OpenApiParameter("slug", str, OpenApiParameter.PATH, description="The facility's slug.")
CODE = OpenApiParameter("code", str, OpenApiParameter.PATH, description="The project's code.")
USER_ID = OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="The person's id.")
TAGS = ["people"]


class PeopleView(ApiView[Any]):
    permission_classes = AUTHENTICATED
    pagination_class = None

    def facility(self, request: Request, slug: str) -> Facility:
        found = Facility.objects.filter(slug=slug).first()
        if found is None:
            raise NotFound(f"no facility {slug!r}")
        if not access.can_manage_facility_people(request.user, found):
            raise NotAllowed("only the facility's curators manage its people")
        return found

    def project(self, request: Request, code: str) -> Project:
        found = access.projects_visible_to(request.user).filter(code=code).first()
        if found is None:
            raise NotFound(f"no project {code!r} visible to you")
        if not access.can_manage_project_members(request.user, found):
            raise NotAllowed("only the project's PI and its facility's curators manage members")
        return found

    def person(self, user_id: int) -> Any:
        found = get_user_model().objects.filter(pk=user_id).first()
        if found is None:
            raise NotFound(f"no person {user_id}")
        return found


def _created(invitation: Invitation, secret: str) -> Response:
    body = s.InvitationCreatedSerializer(
        invitation, context={"link": services.invitation_link(secret)}
    ).data
    return Response(body, status=status.HTTP_201_CREATED)


class FacilityPeopleView(PeopleView):
    serializer_class = s.StaffSerializer

    @extend_schema(
        operation_id="facility_people_list",
        tags=TAGS,
        summary="A facility's staff and curators",
        parameters=[SLUG],
        responses={200: s.StaffSerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        facility = self.facility(request, slug)
        found = FacilityMembership.objects.filter(facility=facility).select_related("user")
        return Response(s.StaffSerializer(found.order_by("role", "user__username"), many=True).data)


class FacilityPersonView(PeopleView):
    serializer_class = s.StaffSerializer

    @extend_schema(
        operation_id="facility_people_set_role",
        tags=TAGS,
        summary="Make a facility's staff member a curator, or a curator staff",
        parameters=[SLUG, USER_ID],
        request=s.RoleInputSerializer,
        responses={200: s.StaffSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def patch(self, request: Request, slug: str, user_id: int) -> Response:
        facility, person = self.facility(request, slug), self.person(user_id)
        data = s.RoleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.facility_role_set(
            actor=request.user, facility=facility, user=person, role=data.validated_data["role"]
        )
        membership = FacilityMembership.objects.get(facility=facility, user=person)
        return Response(s.StaffSerializer(membership).data)

    @extend_schema(
        operation_id="facility_people_remove",
        tags=TAGS,
        summary="Take a person's role at a facility away",
        description=docs.FACILITY_PEOPLE_REMOVE,
        parameters=[SLUG, USER_ID],
        responses={204: None, **error_responses(401, 403, 404, 409, 429)},
    )
    def delete(self, request: Request, slug: str, user_id: int) -> Response:
        facility, person = self.facility(request, slug), self.person(user_id)
        services.facility_member_remove(actor=request.user, facility=facility, user=person)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FacilityInvitationsView(PeopleView):
    serializer_class = s.InvitationSerializer

    @extend_schema(
        operation_id="facility_invitations_list",
        tags=TAGS,
        summary="A facility's open invitations",
        parameters=[SLUG],
        responses={200: s.InvitationSerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        found = open_invitations().filter(facility=self.facility(request, slug))
        return Response(s.InvitationSerializer(found, many=True).data)

    @extend_schema(
        operation_id="facility_invitations_create",
        tags=TAGS,
        summary="Invite someone as staff or curator of a facility",
        description=docs.FACILITY_INVITATIONS_CREATE,
        parameters=[SLUG],
        request=s.FacilityInviteInputSerializer,
        responses={201: s.InvitationCreatedSerializer, **error_responses(400, 401, 403, 404, 429)},
        examples=docs.FACILITY_INVITATIONS_CREATE_EXAMPLES,
    )
    def post(self, request: Request, slug: str) -> Response:
        facility = self.facility(request, slug)
        data = s.FacilityInviteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, secret = services.invitation_create(
            actor=request.user, facility=facility, **data.validated_data
        )
        return _created(invitation, secret)


class FacilityAccessRequestsView(PeopleView):
    serializer_class = s.AccessRequestSerializer

    @extend_schema(
        operation_id="facility_access_requests_list",
        tags=TAGS,
        summary="Pending requests for a role at a facility",
        description=docs.FACILITY_ACCESS_REQUESTS_LIST,
        parameters=[SLUG],
        responses={
            200: s.AccessRequestSerializer(many=True),
            **error_responses(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        found = AccessRequest.objects.filter(
            facility=self.facility(request, slug), state=RequestState.PENDING
        ).select_related("user", "facility")
        return Response(s.AccessRequestSerializer(found, many=True).data)


class AccessRequestDecisionView(PeopleView):
    serializer_class = s.AccessRequestSerializer

    @extend_schema(
        operation_id="facility_access_requests_decide",
        tags=TAGS,
        summary="Approve or decline a request",
        parameters=[
            SLUG,
            OpenApiParameter("request_id", int, OpenApiParameter.PATH),
        ],
        request=s.DecisionInputSerializer,
        responses={200: s.AccessRequestSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, slug: str, request_id: int) -> Response:
        facility = self.facility(request, slug)
        found = AccessRequest.objects.filter(pk=request_id, facility=facility).first()
        if found is None:
            raise NotFound(f"no request {request_id} at {slug}")
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = services.access_request_decide(
            actor=request.user, request=found, approve=data.validated_data["approve"]
        )
        return Response(s.AccessRequestSerializer(decided).data)


class ProjectMembersView(PeopleView):
    serializer_class = s.PersonSerializer

    @extend_schema(
        operation_id="project_members_list",
        tags=TAGS,
        summary="A project's members",
        description=docs.PROJECT_MEMBERS_LIST,
        parameters=[CODE],
        responses={200: s.PersonSerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, code: str) -> Response:
        project = self.project(request, code)
        members = [
            m.user
            for m in ProjectMembership.objects.filter(project=project)
            .select_related("user")
            .order_by("user__username")
        ]
        return Response(s.PersonSerializer(members, many=True).data)


class ProjectMemberView(PeopleView):
    @extend_schema(
        operation_id="project_members_remove",
        tags=TAGS,
        summary="Remove a member from a project",
        description=docs.PROJECT_MEMBERS_REMOVE,
        parameters=[CODE, USER_ID],
        responses={204: None, **error_responses(401, 403, 404, 429)},
    )
    def delete(self, request: Request, code: str, user_id: int) -> Response:
        project, person = self.project(request, code), self.person(user_id)
        services.project_member_remove(actor=request.user, project=project, user=person)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectInvitationsView(PeopleView):
    serializer_class = s.InvitationSerializer

    @extend_schema(
        operation_id="project_invitations_list",
        tags=TAGS,
        summary="A project's open invitations",
        parameters=[CODE],
        responses={200: s.InvitationSerializer(many=True), **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, code: str) -> Response:
        found = open_invitations().filter(project=self.project(request, code))
        return Response(s.InvitationSerializer(found, many=True).data)

    @extend_schema(
        operation_id="project_invitations_create",
        tags=TAGS,
        summary="Invite someone into a project",
        description=docs.PROJECT_INVITATIONS_CREATE,
        parameters=[CODE],
        request=s.ProjectInviteInputSerializer,
        responses={201: s.InvitationCreatedSerializer, **error_responses(400, 401, 403, 404, 429)},
        examples=docs.PROJECT_INVITATIONS_CREATE_EXAMPLES,
    )
    def post(self, request: Request, code: str) -> Response:
        project = self.project(request, code)
        data = s.ProjectInviteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation, secret = services.invitation_create(
            actor=request.user, project=project, **data.validated_data
        )
        return _created(invitation, secret)


class InvitationDetailView(PeopleView):
    serializer_class = s.InvitationSerializer

    def invitation(self, request: Request, invitation_id: int) -> Invitation:
        found = (
            Invitation.objects.select_related("project", "facility", "invited_by")
            .filter(pk=invitation_id)
            .first()
        )
        manages = found is not None and (
            access.can_manage_project_members(request.user, found.project)
            if found.project
            else access.can_manage_facility_people(request.user, found.target)  # type: ignore[arg-type]
        )
        if found is None or not manages:
            raise NotFound(f"no invitation {invitation_id} of yours")
        return found

    @extend_schema(
        operation_id="invitations_retrieve",
        tags=TAGS,
        summary="An invitation you manage",
        parameters=[OpenApiParameter("invitation_id", int, OpenApiParameter.PATH)],
        responses={200: s.InvitationSerializer, **error_responses(401, 404, 429)},
    )
    def get(self, request: Request, invitation_id: int) -> Response:
        return Response(s.InvitationSerializer(self.invitation(request, invitation_id)).data)

    @extend_schema(
        operation_id="invitations_revoke",
        tags=TAGS,
        summary="Revoke an open invitation",
        parameters=[OpenApiParameter("invitation_id", int, OpenApiParameter.PATH)],
        responses={204: None, **error_responses(401, 403, 404, 409, 429)},
    )
    def delete(self, request: Request, invitation_id: int) -> Response:
        found = self.invitation(request, invitation_id)
        services.invitation_revoke(actor=request.user, invitation=found)
        return Response(status=status.HTTP_204_NO_CONTENT)

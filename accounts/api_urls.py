"""Routes of the people API (included under /api/v1/ in the ``api`` namespace)."""

from django.urls import path

from .api import views

FACILITY = "facilities/<slug:slug>"
PROJECT = "projects/<slug:code>"

urlpatterns = [
    path(f"{FACILITY}/people/", views.FacilityPeopleView.as_view(), name="facility-people"),
    path(
        f"{FACILITY}/people/<int:user_id>/",
        views.FacilityPersonView.as_view(),
        name="facility-person",
    ),
    path(
        f"{FACILITY}/invitations/",
        views.FacilityInvitationsView.as_view(),
        name="facility-invitations",
    ),
    path(
        f"{FACILITY}/access-requests/",
        views.FacilityAccessRequestsView.as_view(),
        name="facility-access-requests",
    ),
    path(
        f"{FACILITY}/access-requests/<int:request_id>/decision",
        views.AccessRequestDecisionView.as_view(),
        name="facility-access-request-decision",
    ),
    path(f"{PROJECT}/members/", views.ProjectMembersView.as_view(), name="project-members"),
    path(
        f"{PROJECT}/members/<int:user_id>/",
        views.ProjectMemberView.as_view(),
        name="project-member",
    ),
    path(
        f"{PROJECT}/invitations/",
        views.ProjectInvitationsView.as_view(),
        name="project-invitations",
    ),
    path(
        "invitations/<int:invitation_id>/",
        views.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
]

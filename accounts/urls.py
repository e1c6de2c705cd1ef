from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("account/identities/", views.identities, name="identities"),
    path("people/", views.overview, name="people"),
    path("people/projects/<slug:code>/", views.project_people, name="project-people"),
    path("people/facilities/<slug:slug>/", views.facility_people, name="facility-people"),
    path("invitations/<str:secret>/", views.invitation, name="invitation"),
]

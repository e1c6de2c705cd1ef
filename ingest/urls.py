"""Facility staff's upload pages (included under /upload/ in the ``ingest`` namespace)."""

from django.urls import path

from . import views

app_name = "ingest"

urlpatterns = [
    path("", views.session_new, name="session-new"),
    path("sessions/", views.session_list, name="session-list"),
    path("<int:session_id>/", views.session_detail, name="session"),
    path("<int:session_id>/status", views.session_status, name="session-status"),
]

"""Routes of the schema registry's API (included under /api/v1/ in the ``api`` namespace)."""

from django.urls import path

from . import api

urlpatterns = [
    path("schemas/", api.SchemaListView.as_view(), name="schema-list"),
    path("schemas/<str:name>/<str:version>/", api.SchemaDetailView.as_view(), name="schema-detail"),
    path(
        "schemas/<str:name>/<str:version>/document",
        api.SchemaDocumentView.as_view(),
        name="schema-document",
    ),
]

"""Routes of the deposition pages and of its API (``/api/v1/datasets/<pid>/depositions/...``)."""

from django.urls import path

from . import api, views

TARGET = "<str:pid>/deposition/<str:target>"
API = "api/v1/datasets/<str:pid>/depositions"

urlpatterns = [
    path("datasets/<str:pid>/deposition/", views.deposition_index, name="deposition-index"),
    path(f"datasets/{TARGET}/", views.deposition_prepare, name="deposition-prepare"),
    path(f"datasets/{TARGET}/document", views.deposition_document, name="deposition-document"),
    path(f"datasets/{TARGET}/manifest.json", views.deposition_manifest, name="deposition-manifest"),
    path(
        f"datasets/{TARGET}/thumbnail.png", views.deposition_thumbnail, name="deposition-thumbnail"
    ),
    path(
        f"datasets/{TARGET}/transfer.txt",
        views.deposition_instructions,
        name="deposition-instructions",
    ),
    path(f"datasets/{TARGET}/<slug:action>/", views.deposition_action, name="deposition-action"),
    # API
    path(f"{API}/", api.DepositionListView.as_view(), name="deposition-api-list"),
    path(
        f"{API}/empiar/entry",
        api.EmpiarEntryView.as_view(),
        name="deposition-api-empiar-entry",
    ),
    path(
        f"{API}/empiar/submit",
        api.EmpiarSubmitView.as_view(),
        name="deposition-api-empiar-submit",
    ),
    path(f"{API}/<str:target>/", api.DepositionDetailView.as_view(), name="deposition-api-detail"),
    path(
        f"{API}/<str:target>/validate",
        api.DepositionValidateView.as_view(),
        name="deposition-api-validate",
    ),
    path(
        f"{API}/<str:target>/package",
        api.DepositionPackageView.as_view(),
        name="deposition-api-package",
    ),
    path(
        f"{API}/<str:target>/submitted",
        api.DepositionSubmittedView.as_view(),
        name="deposition-api-submitted",
    ),
    path(
        f"{API}/<str:target>/accession",
        api.DepositionAccessionView.as_view(),
        name="deposition-api-accession",
    ),
    path(
        f"{API}/<str:target>/reject",
        api.DepositionRejectView.as_view(),
        name="deposition-api-reject",
    ),
    path(
        f"{API}/<str:target>/document",
        api.DepositionDocumentView.as_view(),
        name="deposition-api-document",
    ),
    path(
        f"{API}/<str:target>/manifest",
        api.DepositionManifestView.as_view(),
        name="deposition-api-manifest",
    ),
]

"""Routes of the repository's API (included under /api/v1/ in the ``api`` namespace)."""

from django.urls import path

from . import versions, views

urlpatterns = [
    path("datasets/", views.DatasetListView.as_view(), name="dataset-list"),
    path("datasets/<str:pid>/", views.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<str:pid>/publish", views.DatasetPublishView.as_view(), name="dataset-publish"),
    path(
        "datasets/<str:pid>/visibility",
        views.DatasetVisibilityView.as_view(),
        name="dataset-visibility",
    ),
    path(
        "datasets/<str:pid>/manifest", views.DatasetManifestView.as_view(), name="dataset-manifest"
    ),
    path("datasets/<str:pid>/files/", views.DataFileListView.as_view(), name="datafile-list"),
    path(
        "datasets/<str:pid>/files/<int:file_id>/",
        views.DataFileDetailView.as_view(),
        name="datafile-detail",
    ),
    path(
        "datasets/<str:pid>/files/<int:file_id>/download",
        views.DataFileDownloadView.as_view(),
        name="datafile-download",
    ),
    path("datasets/<str:pid>/versions/", versions.VersionListView.as_view(), name="version-list"),
    path(
        "datasets/<str:pid>/versions/<int:number>/",
        versions.VersionDetailView.as_view(),
        name="version-detail",
    ),
    path(
        "datasets/<str:pid>/versions/<int:number>/withdraw",
        versions.VersionWithdrawView.as_view(),
        name="version-withdraw",
    ),
    path(
        "datasets/<str:pid>/versions/<int:number>/files/",
        versions.VersionFileListView.as_view(),
        name="version-files",
    ),
    path(
        "datasets/<str:pid>/versions/<int:number>/files/<int:file_id>/download",
        versions.VersionFileDownloadView.as_view(),
        name="version-file-download",
    ),
    path("facilities/", views.FacilityListView.as_view(), name="facility-list"),
    path("facilities/<slug:slug>/", views.FacilityDetailView.as_view(), name="facility-detail"),
    path("instruments/", views.InstrumentListView.as_view(), name="instrument-list"),
    path(
        "instruments/<int:instrument_id>/",
        views.InstrumentDetailView.as_view(),
        name="instrument-detail",
    ),
    path("projects/", views.ProjectListView.as_view(), name="project-list"),
    path("projects/<slug:code>/", views.ProjectDetailView.as_view(), name="project-detail"),
    path("tokens/", views.TokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", views.TokenDetailView.as_view(), name="token-detail"),
]

"""The portal's HTML pages for browsing, searching and downloading datasets."""

from django.urls import path

from . import metadata_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("datasets/", views.dataset_list, name="dataset-list"),
    path("datasets/<str:pid>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/<str:pid>/v/<int:number>/", views.dataset_version, name="dataset-version"),
    path("datasets/<str:pid>/citation.bib", views.dataset_citation, name="dataset-citation"),
    path("datasets/<str:pid>/summary", views.dataset_summary, name="dataset-summary"),
    path("datasets/<str:pid>/files/", views.dataset_files, name="dataset-files"),
    path("datasets/<str:pid>/files/<int:file_id>/", views.datafile_detail, name="datafile-detail"),
    path(
        "datasets/<str:pid>/files/<int:file_id>/download",
        views.datafile_download,
        name="datafile-download",
    ),
    path(
        "datasets/<str:pid>/files/<int:file_id>/thumbnail.png",
        views.datafile_thumbnail,
        name="datafile-thumbnail",
    ),
    path("datasets/<str:pid>/manifest.sha256", views.dataset_manifest, name="dataset-manifest"),
    path("datasets/<str:pid>/urls.txt", views.dataset_urls, name="dataset-urls"),
    path("datasets/<str:pid>/download.zip", views.dataset_zip, name="dataset-zip"),
    path("download/<str:token>/<path:name>", views.signed_download, name="signed-download"),
    path(
        "datasets/<str:pid>/metadata/edit",
        metadata_views.dataset_metadata_edit,
        name="dataset-metadata-edit",
    ),
]

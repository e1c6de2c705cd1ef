"""Routes of the upload API (included under /api/v1/ in the ``api`` namespace)."""

from django.urls import path

from . import api

FILE = "uploads/<int:session_id>/files/<int:file_id>"

urlpatterns = [
    path("uploads/", api.UploadSessionListView.as_view(), name="upload-list"),
    path("uploads/<int:session_id>/", api.UploadSessionDetailView.as_view(), name="upload-detail"),
    path(
        "uploads/<int:session_id>/complete",
        api.UploadSessionCompleteView.as_view(),
        name="upload-complete",
    ),
    path("uploads/<int:session_id>/status", api.UploadStatusView.as_view(), name="upload-status"),
    path("uploads/<int:session_id>/files/", api.UploadFilesView.as_view(), name="upload-files"),
    path(f"{FILE}/multipart", api.MultipartView.as_view(), name="upload-multipart"),
    path(
        f"{FILE}/multipart/parts", api.MultipartPartsView.as_view(), name="upload-multipart-parts"
    ),
    path(
        f"{FILE}/multipart/complete",
        api.MultipartCompleteView.as_view(),
        name="upload-multipart-complete",
    ),
    path(f"{FILE}/content", api.ContentView.as_view(), name="upload-content"),
]

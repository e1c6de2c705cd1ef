"""Routes of the upload API (included under /api/v1/ in the ``api`` namespace)."""

from django.urls import path

from .api import chunks, files, multipart, sessions

FILE = "uploads/<int:session_id>/files/<int:file_id>"

urlpatterns = [
    path("uploads/", sessions.UploadSessionListView.as_view(), name="upload-list"),
    path(
        "uploads/<int:session_id>/",
        sessions.UploadSessionDetailView.as_view(),
        name="upload-detail",
    ),
    path(
        "uploads/<int:session_id>/complete",
        sessions.UploadSessionCompleteView.as_view(),
        name="upload-complete",
    ),
    path(
        "uploads/<int:session_id>/status", sessions.UploadStatusView.as_view(), name="upload-status"
    ),
    path("uploads/<int:session_id>/files/", files.UploadFilesView.as_view(), name="upload-files"),
    path(f"{FILE}/multipart", multipart.MultipartView.as_view(), name="upload-multipart"),
    path(
        f"{FILE}/multipart/parts",
        multipart.MultipartPartsView.as_view(),
        name="upload-multipart-parts",
    ),
    path(
        f"{FILE}/multipart/complete",
        multipart.MultipartCompleteView.as_view(),
        name="upload-multipart-complete",
    ),
    path(f"{FILE}/content", chunks.ContentView.as_view(), name="upload-content"),
]

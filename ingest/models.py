"""Upload sessions: one microscope session (or a part of it) uploaded into a dataset."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class UploadSessionState(models.TextChoices):
    OPEN = "open", "Open (uploading)"
    COMPLETED = "completed", "Upload complete"
    ABORTED = "aborted", "Aborted"


class UploadSession(models.Model):
    dataset = models.ForeignKey(
        "repository.Dataset", on_delete=models.CASCADE, related_name="upload_sessions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(
        max_length=16, choices=UploadSessionState.choices, default=UploadSessionState.OPEN
    )
    created = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    acquiring = models.BooleanField(
        default=False,
        help_text="Opened by `openem watch` while the microscope acquires: the landing page "
        "shows the session as acquiring until it is completed.",
    )

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"Upload {self.pk} into {self.dataset_id} ({self.state})"

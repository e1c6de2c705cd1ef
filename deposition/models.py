"""Depositions: one record per dataset and archive, from the first check to the accession code.

``draft -> validated -> packaged -> submitted -> accessioned | rejected``. Writes go through
``deposition.services``, which moves the state with conditional UPDATEs and records every step
in the audit trail; the model only holds the data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from repository.models import Dataset


class DepositionTarget(models.TextChoices):
    EMPIAR = "empiar", "EMPIAR (raw images)"
    EMDB = "emdb", "EMDB (maps)"


class DepositionState(models.TextChoices):
    DRAFT = "draft", "Draft"
    VALIDATED = "validated", "Validated"
    PACKAGED = "packaged", "Packaged"
    SUBMITTED = "submitted", "Submitted"
    ACCESSIONED = "accessioned", "Accessioned"
    REJECTED = "rejected", "Rejected"


class PackageJob(models.TextChoices):
    NONE = "", "None"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FAILED = "failed", "Failed"


class Deposition(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="depositions")
    target = models.CharField(max_length=16, choices=DepositionTarget.choices)
    state = models.CharField(
        max_length=16, choices=DepositionState.choices, default=DepositionState.DRAFT
    )
    report = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"valid", "errors", "warnings", "issues": [...], "provenance": [...]}',
    )
    document = models.TextField(blank=True, help_text="The last document built and checked.")
    document_sha256 = models.CharField(max_length=64, blank=True)
    validated_at = models.DateTimeField(null=True, blank=True)
    package_prefix = models.CharField(
        max_length=255, blank=True, help_text="Object storage prefix of the package."
    )
    package = models.JSONField(
        default=dict, blank=True, help_text="Files, bytes and keys of the package."
    )
    package_job = models.CharField(
        max_length=16, choices=PackageJob.choices, default=PackageJob.NONE, blank=True
    )
    package_error = models.TextField(blank=True)
    package_job_started_at = models.DateTimeField(null=True, blank=True)
    remote_entry_id = models.BigIntegerField(
        null=True, blank=True, help_text="The archive's entry id (EMPIAR API), before accession."
    )
    remote_directory = models.CharField(
        max_length=255, blank=True, help_text="The archive's upload directory for the data."
    )
    accession = models.CharField(max_length=32, blank=True)
    rejected_reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    accessioned_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset_id", "target"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "target"], name="unique_deposition_per_dataset_target"
            )
        ]
        indexes = [
            models.Index(fields=["package_job", "modified"], name="deposition_job_idx"),
            models.Index(fields=["state", "-modified"], name="deposition_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_target_display()} deposition of {self.dataset.pid} ({self.state})"

    @property
    def is_valid(self) -> bool:
        return bool(self.report.get("valid")) if self.report else False

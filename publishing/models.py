"""DOI registrations: one per dataset (the concept DOI) and one per published version.

A row says what DataCite should hold (``target``: draft, findable or registered) and what it
was last confirmed to hold (``remote_state``); ``state`` is what people see: ``pending`` while
the two differ and the last attempt did not fail for good, ``failed`` when DataCite refused the
request (a person must act: fix the metadata or the credentials, then retry), otherwise the
DOI's state at DataCite. Every change of what DataCite should hold bumps ``generation``; a
registration is done when ``synced_generation`` caught up, so a task that runs twice, or late,
changes nothing.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from repository.models import Dataset, DatasetVersion


class DoiTarget(models.TextChoices):
    DRAFT = "draft", "Draft (reserved)"
    FINDABLE = "findable", "Findable"
    REGISTERED = "registered", "Registered (hidden)"


class DoiState(models.TextChoices):
    PENDING = "pending", "Pending"
    FAILED = "failed", "Failed"
    DRAFT = "draft", "Draft (reserved)"
    FINDABLE = "findable", "Findable"
    REGISTERED = "registered", "Registered (hidden)"


class DoiRegistration(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="dois")
    version = models.OneToOneField(
        DatasetVersion,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="doi_registration",
        help_text="Empty for the dataset's concept DOI (all versions; resolves to the latest).",
    )
    doi = models.CharField("DOI", max_length=200, unique=True)
    target = models.CharField(max_length=16, choices=DoiTarget.choices, default=DoiTarget.DRAFT)
    remote_state = models.CharField(
        max_length=16,
        choices=DoiTarget.choices,
        blank=True,
        help_text="The state DataCite last confirmed ('' = not created there yet).",
    )
    state = models.CharField(max_length=16, choices=DoiState.choices, default=DoiState.PENDING)
    generation = models.PositiveIntegerField(default=1)
    synced_generation = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(
        default=0, help_text="Requests sent since the last success."
    )
    last_error = models.TextField(blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(
        null=True, blank=True, help_text="When DataCite first confirmed it findable."
    )
    created = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset", "version__number"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset"],
                condition=Q(version__isnull=True),
                name="one_concept_doi_per_dataset",
            ),
        ]
        indexes = [models.Index(fields=["state", "last_attempt_at"], name="doi_retry_idx")]

    def __str__(self) -> str:
        return f"{self.doi} ({self.state})"

    @property
    def is_concept(self) -> bool:
        return self.version_id is None

    @property
    def resolver_url(self) -> str:
        return f"https://doi.org/{self.doi}"

    @property
    def is_public(self) -> bool:
        """Whether the DOI resolves for everyone (findable, or hidden after a withdrawal):
        then citations and exports carry it."""
        return self.remote_state in (DoiTarget.FINDABLE, DoiTarget.REGISTERED)

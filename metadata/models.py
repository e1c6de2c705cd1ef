"""The technique vocabulary and the metadata schema registry: versioned JSON Schema documents
(OSC-EM and others)."""

from __future__ import annotations

from django.db import models


class Technique(models.TextChoices):
    """The EM techniques, aligned with OSC-EM: datasets are of one, schemas apply to some."""

    SPA = "spa", "Single-particle analysis"
    TOMOGRAPHY = "tomography", "Tomography"
    SUBTOMO = "subtomo", "Subtomogram averaging"
    CELLULAR_TOMO = "cellular_tomo", "Cellular tomography"
    ENV_TOMO = "env_tomo", "Environmental tomography"
    MICROED = "microed", "MicroED"
    OTHER = "other", "Other"


class SchemaStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"


class MetadataSchema(models.Model):
    """One version of one schema. Immutable once a dataset uses it: a change is a new version."""

    name = models.CharField(max_length=100, help_text="e.g. oscem-spa")
    version = models.CharField(max_length=32, help_text="Semantic version, e.g. 1.0.2")
    techniques = models.JSONField(default=list, blank=True, help_text="Techniques it applies to.")
    document = models.JSONField(help_text="The JSON Schema document.")
    source_url = models.URLField(max_length=500, blank=True)
    builtin = models.BooleanField(default=False, help_text="Written by the project (not imported).")
    status = models.CharField(
        max_length=16, choices=SchemaStatus.choices, default=SchemaStatus.ACTIVE
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-created"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_schema_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

"""Usage events (COUNTER Code of Practice for Research Data), their daily aggregates, and the
imported EMDB/EMPIAR cross-reference list behind the coverage dashboard.

Raw events are kept only until their day has been aggregated and closed; they hold no IP
address or user id, only a session hash salted with a per-day secret that is deleted with them.
"""

from __future__ import annotations

from django.db import models


class UsageKind(models.TextChoices):
    INVESTIGATION = "i", "Investigation"  # landing page, metadata, citation, manifest
    REQUEST = "r", "Request"  # a file (or a ZIP of files) requested from the portal


class UsageEvent(models.Model):
    """One counted access, as recorded (before double-click filtering)."""

    id = models.BigAutoField(primary_key=True)
    at = models.BigIntegerField(help_text="Unix time in seconds.")
    day = models.DateField(help_text="UTC date of ``at``.")
    dataset_pid = models.CharField(max_length=20)
    file_id = models.BigIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField(null=True, blank=True)
    kind = models.CharField(max_length=1, choices=UsageKind.choices)
    machine = models.BooleanField(default=False, help_text="Scripted access (COUNTER 'Machine').")
    session = models.CharField(max_length=16, help_text="Salted hash of visitor and hour.")

    class Meta:
        indexes = [models.Index(fields=["day"], name="usage_event_day_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.dataset_pid} on {self.day}"


class DailySalt(models.Model):
    """The secret of one day's session hashes; deleted once the day is aggregated and closed, so
    that nobody (the operator included) can link sessions across days afterwards."""

    day = models.DateField(unique=True)
    salt = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"salt of {self.day}"


class DatasetUsageDaily(models.Model):
    """A dataset's COUNTER metrics on one day, per access method. Requests count as
    investigations too, as the Code of Practice says."""

    day = models.DateField()
    dataset = models.ForeignKey(
        "repository.Dataset", on_delete=models.CASCADE, related_name="usage_days"
    )
    machine = models.BooleanField(default=False)
    investigations = models.PositiveIntegerField(default=0)
    unique_investigations = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    unique_requests = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "day", "machine"], name="unique_dataset_usage_day"
            )
        ]
        indexes = [models.Index(fields=["day"], name="dataset_usage_day_idx")]

    def __str__(self) -> str:
        return f"usage of dataset {self.dataset_id} on {self.day}"


class FileUsageDaily(models.Model):
    """Requests of one file on one day, per access method."""

    day = models.DateField()
    datafile = models.ForeignKey(
        "repository.DataFile", on_delete=models.CASCADE, related_name="usage_days"
    )
    dataset = models.ForeignKey(
        "repository.Dataset", on_delete=models.CASCADE, related_name="file_usage_days"
    )
    machine = models.BooleanField(default=False)
    requests = models.PositiveIntegerField(default=0)
    unique_requests = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["datafile", "day", "machine"], name="unique_file_usage_day"
            )
        ]
        indexes = [models.Index(fields=["day"], name="file_usage_day_idx")]

    def __str__(self) -> str:
        return f"requests of file {self.datafile_id} on {self.day}"


class AggregationState(models.Model):
    """One row: the last raw event folded into the daily rows (the aggregation's watermark),
    locked while a pass runs so that two passes never interleave."""

    last_event_id = models.BigIntegerField(default=0)
    last_run = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"usage aggregated up to event {self.last_event_id}"


class EmdbEntry(models.Model):
    """An EMDB entry known from an imported cross-reference export (EMDB id, deposition date,
    funding countries, EMPIAR ids): the whole national picture, not only the portal's maps."""

    emdb_id = models.CharField("EMDB id", max_length=16, unique=True)
    title = models.CharField(max_length=500, blank=True)
    deposition_date = models.DateField()
    funding_countries = models.JSONField(default=list, blank=True)
    empiar_ids = models.JSONField("EMPIAR ids", default=list, blank=True)
    imported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["emdb_id"]
        verbose_name = "EMDB entry"
        verbose_name_plural = "EMDB entries"

    def __str__(self) -> str:
        return self.emdb_id

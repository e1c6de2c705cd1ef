import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.html import format_html
from django.utils.text import Truncator

from metadata.validation import text_problems

from .models import (
    AuditEvent,
    DataFile,
    Dataset,
    Facility,
    FacilityMembership,
    Instrument,
    Project,
    ProjectMembership,
)


class FacilityMembershipInline(admin.TabularInline):
    model = FacilityMembership
    extra = 0
    autocomplete_fields = ["user"]


class ProjectMembershipInline(admin.TabularInline):
    model = ProjectMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "ror_id", "contact_email"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    inlines = [FacilityMembershipInline]


class _DetectorsField(forms.JSONField):
    """Shows a refused value again as typed, escaped where it holds a lone surrogate (which
    has no UTF-8 form: the page would fail to encode)."""

    def prepare_value(self, value: Any) -> Any:
        shown = super().prepare_value(value)
        try:
            str(shown).encode()
        except UnicodeEncodeError:
            return json.dumps(value, cls=self.encoder)  # ASCII, surrogates as \\ud800
        return shown


class InstrumentForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Instrument
        fields = "__all__"  # noqa: DJ007 - the admin edits every field

    def clean_detectors(self) -> Any:
        """JSON typed in may carry ``\\u0000`` or a lone surrogate, which PostgreSQL cannot
        store: a message here rather than a database error (a 500)."""
        detectors = self.cleaned_data["detectors"]
        if text_problems(detectors):
            raise forms.ValidationError(
                "A detector name contains a NUL character or an invalid (surrogate) character."
            )
        return detectors


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    form = InstrumentForm
    formfield_overrides = {models.JSONField: {"form_class": _DetectorsField}}
    list_display = ["name", "facility", "manufacturer", "model", "serial_number"]
    list_filter = ["facility", "manufacturer"]
    search_fields = ["name", "model", "serial_number"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["title", "code", "facility", "principal_investigator"]
    list_filter = ["facility"]
    search_fields = ["title", "code"]
    autocomplete_fields = ["principal_investigator"]
    inlines = [ProjectMembershipInline]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = [
        "pid",
        "short_title",
        "facility",
        "technique",
        "visibility",
        "status",
        "created",
    ]
    list_filter = ["status", "visibility", "technique", "kind", "facility"]
    search_fields = ["pid", "title", "description"]
    readonly_fields = ["pid", "created", "modified", "published_at"]
    raw_id_fields = ["owner", "instrument", "project"]
    date_hierarchy = "created"

    @admin.display(description="title", ordering="title")
    def short_title(self, dataset: Dataset) -> str:
        """Titles of real sessions run to 200 characters: one line or two in the list, the
        whole title on hover and on the change page."""
        return format_html(
            '<span title="{}">{}</span>', dataset.title, Truncator(dataset.title).chars(80)
        )


@admin.register(DataFile)
class DataFileAdmin(admin.ModelAdmin):
    list_display = ["path", "dataset", "size", "format", "state"]
    list_filter = ["state", "format"]
    search_fields = ["path", "checksum_sha256"]
    raw_id_fields = ["dataset", "upload_session"]
    readonly_fields = [
        "storage_key",
        "checksum_sha256",
        "checksum_md5",
        "header",
        "created",
        "modified",
    ]
    show_full_result_count = False  # COUNT(*) over 10^6-file tables is not free


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created", "actor", "action", "target_type", "target_id", "dataset"]
    list_filter = ["action"]
    raw_id_fields = ["actor", "dataset"]
    readonly_fields = [
        "created",
        "actor",
        "action",
        "target_type",
        "target_id",
        "dataset",
        "details",
    ]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the audit trail is append-only

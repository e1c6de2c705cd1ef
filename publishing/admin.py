from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import DoiRegistration


@admin.register(DoiRegistration)
class DoiRegistrationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: DOI states change through the publishing services (and the retry button)."""

    list_display = ["doi", "dataset", "version", "state", "attempts", "updated_at"]
    list_filter = ["state", "target"]
    search_fields = ["doi", "dataset__pid"]
    readonly_fields = [f.name for f in DoiRegistration._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

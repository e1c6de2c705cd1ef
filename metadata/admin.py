from django.contrib import admin

from .models import MetadataSchema


@admin.register(MetadataSchema)
class MetadataSchemaAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "status", "builtin", "created"]
    list_filter = ["status", "builtin"]
    search_fields = ["name"]

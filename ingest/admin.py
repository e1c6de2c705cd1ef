from django.contrib import admin

from .models import UploadSession


@admin.register(UploadSession)
class UploadSessionAdmin(admin.ModelAdmin):
    list_display = ["pk", "dataset", "created_by", "state", "created", "completed_at"]
    list_filter = ["state"]
    raw_id_fields = ["dataset", "created_by"]

from django.contrib import admin

from .models import AccessRequest, FacilitySignupRule, Invitation


@admin.register(FacilitySignupRule)
class FacilitySignupRuleAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["facility", "email_domain", "affiliation", "role"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["email", "project", "facility", "role", "created", "expires_at", "accepted_at"]
    readonly_fields = ["secret_sha256"]


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "facility", "role", "state", "created"]

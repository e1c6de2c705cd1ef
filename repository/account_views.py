"""The account's own pages: the profile, where a person creates and revokes API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from openem.errors import DomainError

from . import access, tokens
from .models import ApiToken, Facility, FacilityMembership, TokenScope


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What it is for, e.g. 'pipeline on gpu01' or 'laptop CLI'.",
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.READ,
        widget=forms.RadioSelect,
        help_text="Read-only tokens can browse and download but not change anything. "
        "'Uploads to one facility' is for a service account at the microscope (openem watch): "
        "it creates datasets and uploads there, and reads nothing else.",
    )
    facility = forms.ModelChoiceField(
        queryset=Facility.objects.none(),
        required=False,
        to_field_name="slug",
        help_text="Only for 'Uploads to one facility': where the token may upload.",
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional: the token stops working at the end of this day.",
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = cast(forms.ModelChoiceField, self.fields["facility"])  # type: ignore[type-arg]
        field.queryset = access.facilities_for_upload(user).order_by("name")

    def clean_expires_on(self) -> dt.date | None:
        day: dt.date | None = self.cleaned_data.get("expires_on")
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("The expiry date must be today or later.")
        return day

    def expires_at(self) -> dt.datetime | None:
        day: dt.date | None = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def _revoke(request: HttpRequest) -> None:
    token_id = request.POST.get("token_id", "")
    token: ApiToken | None = (
        tokens.tokens_of(user=request.user).filter(pk=token_id).first()
        if token_id.isdigit()
        else None
    )
    if token is None:
        messages.error(request, "That token does not exist or is not yours.")
        return
    tokens.token_revoke(actor=request.user, token=token)
    messages.success(request, f"The token '{token.name}' ({token.prefix}...) is revoked.")


@never_cache  # the page may show a token's secret: never store it in any cache
@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(user=request.user)
    created: tuple[ApiToken, str] | None = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            _revoke(request)
            return redirect("profile")
        form = TokenCreateForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                created = tokens.token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    scope=form.cleaned_data["scope"],
                    expires_at=form.expires_at(),
                    facility=form.cleaned_data.get("facility"),
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                form = TokenCreateForm(user=request.user)
    # The secret is rendered in this response only (no redirect, nothing stored): shown once.
    return render(
        request,
        "repository/profile.html",
        {
            "form": form,
            "tokens": tokens.tokens_of(user=request.user),
            "new_token": created[0] if created else None,
            "new_secret": created[1] if created else None,
            "memberships": FacilityMembership.objects.filter(user_id=cast(int, request.user.pk))
            .select_related("facility")
            .order_by("facility__name"),
            "datasets_api_url": request.build_absolute_uri(reverse("api:dataset-list")),
        },
    )

"""Pages: sign-in identities, who has access to what, a project's members, a facility's people,
and the invitation link. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from openem.errors import DomainError
from repository.models import FacilityRole

from . import selectors, services
from .models import AccessRequest, Invitation, InvitationVia, secret_digest


class InviteForm(forms.Form):
    email = forms.EmailField(help_text="The invitation link is sent to this address.")
    via = forms.ChoiceField(choices=InvitationVia.choices, initial=InvitationVia.EMAIL)
    role = forms.ChoiceField(choices=FacilityRole.choices, required=False)


@login_required
def identities(request: HttpRequest) -> HttpResponse:
    linked = list(selectors.identities_of(request.user))
    linked_ids = {a.provider for a in linked}
    return render(
        request,
        "accounts/identities.html",
        {
            "linked": linked,
            "linkable": [p for p in selectors.login_providers() if p.provider_id not in linked_ids],
            "verified_orcid": selectors.verified_orcid(request.user),
        },
    )


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    facilities, projects = selectors.access_overview(request.user)
    return render(
        request, "accounts/overview.html", {"facilities": facilities, "projects": projects}
    )


def _user(pk: str) -> Any:
    found = get_user_model().objects.filter(pk=pk).first() if pk.isdigit() else None
    if found is None:
        raise Http404("no such person")
    return found


def _carry_out(request: HttpRequest, work: Any, done: str) -> None:
    try:
        work()
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)


def _invite(request: HttpRequest, form: InviteForm, **where: Any) -> None:
    try:
        invitation, secret = services.invitation_create(
            actor=request.user,
            email=form.cleaned_data["email"],
            via=form.cleaned_data["via"],
            **where,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Invitation sent to {invitation.email}; the link is valid until "
            f"{invitation.expires_at:%Y-%m-%d}: {services.invitation_link(secret)}",
        )


def _revoke(request: HttpRequest, **where: Any) -> None:
    invitation = Invitation.objects.filter(pk=request.POST.get("invitation", "0"), **where).first()
    if invitation is None:
        raise Http404("no such invitation")
    _carry_out(
        request,
        lambda: services.invitation_revoke(actor=request.user, invitation=invitation),
        f"The invitation for {invitation.email} is revoked.",
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def project_people(request: HttpRequest, code: str) -> HttpResponse:
    project = selectors.managed_project(request.user, code)
    if project is None:
        raise Http404("no project of yours has this code")
    form = InviteForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "invite":
            form = InviteForm(request.POST)
            if form.is_valid():
                _invite(request, form, project=project)
                return redirect("accounts:project-people", code=code)
        elif action == "remove":
            person = _user(request.POST.get("user", ""))
            _carry_out(
                request,
                lambda: services.project_member_remove(
                    actor=request.user, project=project, user=person
                ),
                f"{person.get_username()} is no longer a member of {project.title}.",
            )
            return redirect("accounts:project-people", code=code)
        elif action == "revoke":
            _revoke(request, project=project)
            return redirect("accounts:project-people", code=code)
    return render(
        request,
        "accounts/project_people.html",
        {"entry": selectors.project_access(project, request.user), "form": form},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def facility_people(request: HttpRequest, slug: str) -> HttpResponse:
    facility = selectors.managed_facility(request.user, slug)
    if facility is None:
        raise Http404("you curate no facility with this name")
    form = InviteForm(initial={"role": FacilityRole.STAFF})
    if request.method == "POST":
        action = request.POST.get("action")
        back = redirect("accounts:facility-people", slug=slug)
        if action == "invite":
            form = InviteForm(request.POST)
            if form.is_valid():
                try:
                    invitation, secret = services.invitation_create(
                        actor=request.user,
                        email=form.cleaned_data["email"],
                        via=form.cleaned_data["via"],
                        facility=facility,
                        role=form.cleaned_data["role"] or FacilityRole.STAFF,
                    )
                except DomainError as exc:
                    messages.error(request, exc.message)
                else:
                    messages.success(
                        request,
                        f"Invitation sent to {invitation.email}: "
                        f"{services.invitation_link(secret)}",
                    )
                return back
        elif action in ("remove", "role"):
            person = _user(request.POST.get("user", ""))
            if action == "remove":
                _carry_out(
                    request,
                    lambda: services.facility_member_remove(
                        actor=request.user, facility=facility, user=person
                    ),
                    f"{person.get_username()} has no role at {facility} any more.",
                )
            else:
                role = request.POST.get("role", "")
                _carry_out(
                    request,
                    lambda: services.facility_role_set(
                        actor=request.user, facility=facility, user=person, role=role
                    ),
                    f"{person.get_username()} is now {role} at {facility}.",
                )
            return back
        elif action == "revoke":
            _revoke(request, facility=facility)
            return back
        elif action in ("approve", "decline"):
            found = AccessRequest.objects.filter(
                pk=request.POST.get("request", "0"), facility=facility
            ).first()
            if found is None:
                raise Http404("no such request")
            _carry_out(
                request,
                lambda: services.access_request_decide(
                    actor=request.user, request=found, approve=action == "approve"
                ),
                f"The request of {found.user.get_username()} is {action}d.",
            )
            return back
    return render(
        request,
        "accounts/facility_people.html",
        {"entry": selectors.facility_access(facility, request.user), "form": form},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, secret: str) -> HttpResponse:
    found = (
        Invitation.objects.select_related("project", "facility", "invited_by")
        .filter(secret_sha256=secret_digest(secret))
        .first()
    )
    if found is None:
        raise Http404("This invitation link is not valid.")
    if request.method == "POST" and request.user.is_authenticated:
        try:
            services.invitation_accept(user=request.user, secret=secret)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            target = found.project or found.facility
            messages.success(request, f"Welcome: you now have access to {target}.")
            return redirect("accounts:people")
    return render(
        request,
        "accounts/invitation.html",
        {"invitation": found, "providers": selectors.login_providers()},
        status=200 if found.state == "open" else 410,
    )

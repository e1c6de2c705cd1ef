"""Facility staff's pages: start a session (a draft dataset and its upload session), upload a
folder from the browser, and follow the ingest live.

The browser talks to the upload API (``ingest.api``: register, multipart, chunks, complete)
with the session cookie and the CSRF token; these views only render pages and the progress
partial that htmx polls. Who may upload is ``repository.access`` (staff and curators of the
facility, admins), through ``access.facilities_for_upload``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

import storage
from openem.errors import DomainError
from repository import access
from repository.models import (
    DataFile,
    DatasetStatus,
    Facility,
    FileState,
    Instrument,
    Project,
    Technique,
    Visibility,
)
from repository.services import dataset_create

from .models import UploadSession, UploadSessionState
from .selectors import upload_session_progress
from .uploads import upload_session_create

UPLOADER_BUNDLE = "vendor/uploader.js"
FAILED_FILES_SHOWN = 50
#: htmx stops polling when a response has this status (https://htmx.org/docs/#polling).
HTMX_STOP_POLLING = 286


class NewSessionForm(forms.Form):
    """The session's facts; choices are limited to the facilities the user works at."""

    facility = forms.ModelChoiceField(queryset=Facility.objects.none(), empty_label=None)
    instrument = forms.ModelChoiceField(
        queryset=Instrument.objects.none(), required=False, empty_label="(not listed)"
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, empty_label="(no project)"
    )
    technique = forms.ChoiceField(choices=Technique.choices)
    title = forms.CharField(
        max_length=300, help_text="What a colleague would search for: sample, technique, date."
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False)
    keywords = forms.CharField(
        required=False, help_text="Separated by commas, e.g. apoferritin, EER, Falcon 4i."
    )
    visibility = forms.ChoiceField(
        choices=Visibility.choices,
        initial=Visibility.PRIVATE,
        widget=forms.RadioSelect,
        help_text="Takes effect when a curator publishes the dataset; until then only the "
        "project and the facility see it.",
    )
    embargo_until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="For an embargo: the day the files open.",
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        facilities = access.facilities_for_upload(user).order_by("name")
        self.fields["facility"].queryset = facilities  # type: ignore[attr-defined]
        self.fields["instrument"].queryset = Instrument.objects.filter(  # type: ignore[attr-defined]
            facility__in=facilities
        ).select_related("facility")
        self.fields["project"].queryset = Project.objects.filter(  # type: ignore[attr-defined]
            facility__in=facilities
        ).order_by("title")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        facility = data.get("facility")
        for name in ("instrument", "project"):
            chosen = data.get(name)
            if chosen is not None and facility is not None and chosen.facility_id != facility.pk:
                self.add_error(name, f"This {name} is not at {facility.name}.")
        if data.get("visibility") == Visibility.EMBARGOED:
            until = data.get("embargo_until")
            if until is None:
                self.add_error("embargo_until", "An embargo needs the date the files open.")
            elif until <= timezone.localdate():
                self.add_error("embargo_until", "The embargo date must be in the future.")
        return data

    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.cleaned_data.get("keywords", "").split(",") if k.strip()]


def _sessions_for(user: Any) -> QuerySet[UploadSession]:
    return UploadSession.objects.filter(
        dataset__facility__in=access.facilities_for_upload(user)
    ).select_related("dataset", "dataset__facility", "dataset__instrument", "created_by")


def _session_or_none(request: HttpRequest, session_id: int) -> UploadSession | None:
    return _sessions_for(request.user).filter(pk=session_id).first()


def _refused(request: HttpRequest, message: str, status: int = 403) -> HttpResponse:
    return render(
        request,
        "repository/error.html",
        {"title": "Upload not available", "message": message},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def session_new(request: HttpRequest) -> HttpResponse:
    if not access.facilities_for_upload(request.user).exists():
        return _refused(
            request,
            "Only staff and curators of a facility can create sessions. Ask your facility to "
            "add you to its staff.",
        )
    form = NewSessionForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():  # the draft dataset and its session exist together
                dataset = dataset_create(
                    actor=request.user,
                    title=data["title"],
                    facility=data["facility"],
                    technique=data["technique"],
                    description=data.get("description", ""),
                    instrument=data.get("instrument"),
                    project=data.get("project"),
                    keywords=form.keyword_list(),
                    visibility=data["visibility"],
                    embargo_until=data.get("embargo_until")
                    if data["visibility"] == Visibility.EMBARGOED
                    else None,
                )
                session = upload_session_create(actor=request.user, dataset=dataset)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("ingest:session", session_id=session.pk)
    return render(
        request,
        "ingest/session_new.html",
        {"form": form, "facility_options": _facility_options(form)},
    )


def _facility_options(form: NewSessionForm) -> dict[str, dict[str, int]]:
    """Which facility each instrument and project belongs to, so that a small script can
    narrow the lists to the chosen facility (the form checks it again)."""
    options: dict[str, dict[str, int]] = {}
    for name in ("instrument", "project"):
        field: Any = form.fields[name]
        options[name] = {str(obj.pk): obj.facility_id for obj in field.queryset}
    return options


@login_required
@require_safe
def session_list(request: HttpRequest) -> HttpResponse:
    sessions = list(_sessions_for(request.user).order_by("-created")[:50])
    rows = [(session, upload_session_progress(session)) for session in sessions]
    return render(
        request,
        "ingest/session_list.html",
        {"rows": rows, "can_create": access.facilities_for_upload(request.user).exists()},
    )


@login_required
@require_safe
def session_detail(request: HttpRequest, session_id: int) -> HttpResponse:
    session = _session_or_none(request, session_id)
    if session is None:
        return _refused(
            request, f"There is no upload session {session_id} of your facilities.", 404
        )
    store = storage.get_store()
    status = _status_context(session)
    api_base = reverse("api:upload-detail", kwargs={"session_id": session.pk})
    config = {
        "sessionId": session.pk,
        "dataset": session.dataset.pid,
        "storage": store.name,
        "partSize": settings.OPENEM_UPLOAD_PART_SIZE,
        "api": {
            "session": api_base,
            "files": reverse("api:upload-files", kwargs={"session_id": session.pk}),
            "complete": reverse("api:upload-complete", kwargs={"session_id": session.pk}),
            "file": reverse(
                "api:upload-multipart", kwargs={"session_id": session.pk, "file_id": 0}
            ).rsplit("/0/", 1)[0]
            + "/",
        },
        "statusUrl": reverse("ingest:session-status", kwargs={"session_id": session.pk}),
        "open": session.state == UploadSessionState.OPEN,
    }
    return render(
        request,
        "ingest/session_detail.html",
        {
            **status,
            "config": config,
            "uploader_ready": finders.find(UPLOADER_BUNDLE) is not None,
            "expiry_minutes": settings.OPENEM_PRESIGN_EXPIRY // 60,
        },
    )


def _status_context(session: UploadSession) -> dict[str, Any]:
    progress = upload_session_progress(session)
    dataset = session.dataset
    dataset.refresh_from_db(fields=["status"])
    failed = list(
        DataFile.objects.filter(upload_session=session, state=FileState.FAILED)
        .order_by("path")
        .only("pk", "path", "size", "error")[:FAILED_FILES_SHOWN]
    )
    finished = progress.settled and session.state != UploadSessionState.OPEN
    return {
        "session": session,
        "dataset": dataset,
        "progress": progress,
        "percent": round(progress.fraction_settled * 100, 1),
        "failed": failed,
        "finished": finished,
        "ready": finished and dataset.status in (DatasetStatus.READY, DatasetStatus.PUBLISHED),
        "checked_at": timezone.now(),
        "poll": not finished,
        # Registered files whose bytes have not all arrived (the resume hint).
        "waiting_files": progress.files_by_state.get(FileState.REGISTERED, 0),
        "session_open": session.state == UploadSessionState.OPEN,
    }


@login_required
@require_safe
def session_status(request: HttpRequest, session_id: int) -> HttpResponse:
    """The live ingest panel: files and bytes done/failed, failures with their reasons.

    Polled by htmx every few seconds (and fetched by the uploader when it is done), with the
    page's resume hint out of band; once every file has settled (and the session is closed)
    it answers 286 so that the polling stops.
    """
    session = _session_or_none(request, session_id)
    if session is None:
        return HttpResponse(status=404)
    context = _status_context(session)
    # The resume hint above the uploader is sent along (htmx swaps it out of band), so that
    # it says how many files still wait now, not when the page was loaded.
    response = render(request, "ingest/_status.html", {**context, "resume_hint_oob": True})
    if context["finished"] and request.headers.get("HX-Request") == "true":
        response.status_code = HTMX_STOP_POLLING
    return response

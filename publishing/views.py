"""The curators' retry of a DOI registration (POST from the landing page's DOI panel)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from openem.errors import DomainError, NotAllowed
from repository import selectors

from . import services
from .models import DoiRegistration


@login_required
@require_POST
def doi_retry(request: HttpRequest, pid: str, registration_id: int) -> HttpResponse:
    dataset = selectors.dataset_for_user(user=request.user, pid=pid) or selectors.dataset_tombstone(
        pid=pid
    )
    registration = (
        DoiRegistration.objects.filter(pk=registration_id, dataset=dataset).first()
        if dataset is not None
        else None
    )
    if dataset is None or registration is None:
        raise Http404("no such DOI registration")
    try:
        registration = services.doi_retry(actor=request.user, registration=registration)
    except NotAllowed as exc:
        # A refusal, not a message on the landing page: nothing was retried.
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.info(request, f"{registration.doi}: sent to DataCite again.")
    if registration.version is not None:
        return redirect("dataset-version", pid=dataset.pid, number=registration.version.number)
    return redirect("dataset-detail", pid=dataset.pid)

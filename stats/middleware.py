"""Counts investigations (landing pages, metadata, citations, manifests) and ZIP requests from
the views' names after they answered, so no view knows it is counted. File downloads are
counted where they start (``repository.signals.file_download_started``), once per download,
not once per ranged chunk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from .models import UsageKind
from .recording import usage_record

# URL name -> what a successful GET of it counts as.
COUNTED_VIEWS: dict[str, UsageKind] = {
    "dataset-detail": UsageKind.INVESTIGATION,
    "dataset-version": UsageKind.INVESTIGATION,
    "dataset-citation": UsageKind.INVESTIGATION,
    "dataset-manifest": UsageKind.INVESTIGATION,
    "api:dataset-detail": UsageKind.INVESTIGATION,
    "api:dataset-manifest": UsageKind.INVESTIGATION,
    "dataset-zip": UsageKind.REQUEST,
}


class UsageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        match = request.resolver_match
        if request.method != "GET" or response.status_code != 200 or match is None:
            return response
        kind = COUNTED_VIEWS.get(match.view_name)
        pid = match.kwargs.get("pid")
        if kind is not None and pid:
            version: Any = match.kwargs.get("number") or match.kwargs.get("version")
            usage_record(
                request,
                kind=kind,
                dataset_pid=str(pid),
                version=int(version) if str(version or "").isdigit() else None,
            )
        return response

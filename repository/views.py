"""Thin HTML views: parse input, call a selector or service, render."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from . import access, selectors


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "repository/home.html",
        {
            "recent": selectors.recent_datasets(user=request.user),
            "counts": selectors.portal_counts(user=request.user),
        },
    )


def dataset_detail(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = selectors.dataset_for_user(user=request.user, pid=pid)
    if dataset is None:
        raise Http404("No dataset with this identifier is visible to you.")
    can_list = access.can(request.user, access.Action.LIST_FILES, dataset)
    return render(
        request,
        "repository/dataset_detail.html",
        {
            "dataset": dataset,
            "can_list_files": can_list,
            "can_edit": access.can_edit(request.user, dataset),
            "files": selectors.dataset_file_page(dataset=dataset) if can_list else [],
            "progress": selectors.dataset_file_progress(dataset=dataset),
        },
    )

"""The schema-driven metadata form of a dataset (the form itself is :mod:`metadata.forms`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from metadata import selectors as metadata_selectors
from metadata.forms import MODES, MetadataForm
from metadata.validation import Problem
from openem.errors import NotAllowed, ValidationFailed

from . import access, dataset_metadata, selectors


@require_http_methods(["GET", "POST"])
def dataset_metadata_edit(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = selectors.dataset_for_user(user=request.user, pid=pid)
    if dataset is None:
        raise Http404("No dataset with this identifier is visible to you.")
    if not access.can_edit(request.user, dataset):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        raise PermissionDenied("Only the dataset's owner, project and facility may edit it.")
    schema = metadata_selectors.schema_for_dataset(dataset)
    if schema is None:
        messages.error(request, "No metadata schema is registered for this technique yet.")
        return redirect(dataset)
    source = request.POST if request.method == "POST" else request.GET
    mode = source.get("fields", "all")
    mode = mode if mode in MODES else "all"
    data = request.POST if request.method == "POST" else None
    form = MetadataForm(schema=schema.document, metadata=dataset.metadata, data=data, mode=mode)
    status = 200
    saved = None
    if form.is_bound and not form.adding_row:
        document, unreadable = form.parse()
        try:
            saved = dataset_metadata.dataset_save_metadata(
                actor=request.user, dataset=dataset, metadata=document
            )
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from None
        except ValidationFailed as exc:
            form.add_problems([Problem(**detail) for detail in exc.details or []])
            status = 400
        else:
            refused = unreadable + saved.refused
            if not refused:
                _report_saved(request, saved, schema)
                return redirect(dataset)
            # Show the form again with the values that were not stored beside their fields;
            # what was valid is saved already.
            form = MetadataForm(
                schema=schema.document, metadata=dataset.metadata, data=data, mode=mode
            )
            form.add_problems(refused)
            status = 400
    todo = _todo(dataset)
    return render(
        request,
        "metadata/dataset_metadata_form.html",
        {
            "dataset": dataset,
            "schema": schema,
            "form": form,
            "mode": mode,
            "saved": saved,
            "todo": todo,
        },
        status=status,
    )


def _todo(dataset: Any) -> list[Problem]:
    """What the stored document still lacks or has wrong for its schema."""
    record = dataset.metadata_validation or {}
    return [
        Problem(str(p.get("path", "")), str(p.get("message", "")))
        for p in record.get("problems") or []
        if isinstance(p, dict)
    ]


def _report_saved(request: HttpRequest, saved: dataset_metadata.MetadataSave, schema: Any) -> None:
    if not saved.changed:
        messages.info(request, "Nothing changed.")
    elif not saved.todo:
        messages.success(request, f"Metadata saved: valid against {schema.name} {schema.version}.")
    else:
        count = len(saved.todo)
        messages.success(
            request,
            f"Metadata saved. Still to do before publication and deposition: {count} "
            f"item{'s' if count != 1 else ''} (see the metadata validation panel).",
        )

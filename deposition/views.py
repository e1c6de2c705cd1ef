"""Thin HTML views of the deposition workflow: parse input, call a selector or service, render.

Only curators of the dataset's facility and site admins reach these pages (others get 403, or
404 when they may not even see the dataset). Every action is a POST with a CSRF token.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import storage
from deposition import packaging, selectors, services
from deposition.documents import build_document
from deposition.models import Deposition, DepositionState, DepositionTarget
from openem.errors import DomainError, NotAllowed, NotFound
from repository.models import Dataset


def _dataset(request: HttpRequest, pid: str) -> Dataset:
    try:
        return selectors.dataset_for_curator(user=request.user, pid=pid)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from None


def _target(target: str) -> DepositionTarget:
    try:
        return selectors.target_or_404(target)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _page(pid: str, target: str) -> HttpResponseRedirect:
    return redirect("deposition-prepare", pid=pid, target=target)


@login_required
@require_GET
def deposition_index(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = _dataset(request, pid)
    return _page(dataset.pid, selectors.suggested_target(dataset))


@login_required
@require_GET
def deposition_prepare(request: HttpRequest, pid: str, target: str) -> HttpResponse:
    dataset = _dataset(request, pid)
    archive = _target(target)
    deposition = selectors.deposition_for(dataset=dataset, target=archive)
    preview = None
    if deposition is None or not deposition.report:
        preview = selectors.preview_document(dataset=dataset, target=archive)
        report: dict[str, Any] = preview.report.to_dict()
    else:
        report = deposition.report
    issues = report.get("issues", [])
    return render(
        request,
        "deposition/prepare.html",
        {
            "dataset": dataset,
            "target": archive,
            "targets": DepositionTarget.choices,
            "deposition": deposition,
            "states": DepositionState,
            "report": report,
            "errors": [i for i in issues if i["severity"] == "error"],
            "warnings": [i for i in issues if i["severity"] == "warning"],
            "provenance": report.get("provenance", []),
            "is_preview": preview is not None,
            "instructions": packaging.transfer_instructions(deposition)
            if deposition and deposition.package_prefix
            else "",
            "trail": selectors.deposition_trail(deposition=deposition) if deposition else [],
            "empiar_live": bool(settings.OPENEM_EMPIAR_API_TOKEN),
        },
    )


def _describe(results: list[Any]) -> str:
    lines = []
    for result in results:
        request = result.request
        lines.append(
            f"{request.method} {request.url}"
            + (
                f" -> HTTP {result.status}: {json.dumps(result.data)[:200]}"
                if result.status
                else ""
            )
        )
    return "; ".join(lines)


@login_required
@require_POST
def deposition_action(request: HttpRequest, pid: str, target: str, action: str) -> HttpResponse:
    dataset = _dataset(request, pid)
    archive = _target(target)
    deposition = selectors.deposition_for(dataset=dataset, target=archive)
    user = request.user
    post = request.POST
    try:
        if action == "validate":
            deposition = services.deposition_validate(actor=user, dataset=dataset, target=archive)
            if deposition.is_valid:
                messages.success(request, "The document validates.")
            else:
                messages.warning(request, "The document does not validate yet: see the report.")
        elif deposition is None:
            raise NotFound("check the deposition first")
        elif action == "package":
            services.deposition_package_request(actor=user, deposition=deposition)
            messages.success(request, "Packaging queued: the files are copied in the store.")
        elif action == "submitted":
            services.deposition_mark_submitted(
                actor=user, deposition=deposition, note=post.get("note", "")
            )
            messages.success(request, "Marked as submitted.")
        elif action == "accession":
            services.deposition_record_accession(
                actor=user, deposition=deposition, accession=post.get("accession", "")
            )
            messages.success(request, "Accession code recorded in the dataset's cross-references.")
        elif action == "reject":
            services.deposition_reject(
                actor=user, deposition=deposition, reason=post.get("reason", "")
            )
            messages.info(request, "Rejection recorded; fix, check and package again.")
        elif action == "empiar-entry":
            dry_run = post.get("send") != "yes"
            results = services.deposition_empiar_create_entry(
                actor=user, deposition=deposition, dry_run=dry_run
            )
            messages.info(request, ("Dry run: " if dry_run else "Sent: ") + _describe(results))
        elif action == "empiar-submit":
            dry_run = post.get("send") != "yes"
            result = services.deposition_empiar_submit(
                actor=user, deposition=deposition, dry_run=dry_run
            )
            messages.info(request, ("Dry run: " if dry_run else "Sent: ") + _describe([result]))
        else:
            raise Http404(f"no action {action!r}")
    except DomainError as exc:
        messages.error(request, exc.message)
    return _page(dataset.pid, archive)


@login_required
@require_GET
def deposition_document(request: HttpRequest, pid: str, target: str) -> HttpResponse:
    """The document: the last one checked, or (``?format=mmcif`` or nothing checked yet) one
    built now. An invalid document says so in its name and in ``X-OpenEM-Valid``."""
    dataset = _dataset(request, pid)
    archive = _target(target)
    wanted = "mmcif" if request.GET.get("format") == "mmcif" else archive.value
    deposition = selectors.deposition_for(dataset=dataset, target=archive)
    if wanted == archive.value and deposition is not None and deposition.document:
        content = deposition.document.encode("utf-8")
        valid = deposition.is_valid
        built_name = build_name(dataset, archive.value, deposition)
        media_type = "application/json" if archive == DepositionTarget.EMPIAR else "application/xml"
    else:
        built = build_document(dataset, wanted)
        content, valid, built_name, media_type = (
            built.content,
            built.valid,
            built.filename,
            built.media_type,
        )
    name = built_name if valid else f"INVALID-{built_name}"
    response = HttpResponse(content, content_type=f"{media_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-OpenEM-Valid"] = "true" if valid else "false"
    return response


def build_name(dataset: Dataset, target: str, deposition: Deposition) -> str:
    if target == DepositionTarget.EMPIAR:
        return f"{dataset.pid}-empiar.json"
    entry = (dataset.emdb_ids or ["EMD-0000"])[0].split("-", 1)[1]
    return f"emd-{entry}-v30.xml"


def _package_object(request: HttpRequest, pid: str, target: str, key_name: str) -> Any:
    dataset = _dataset(request, pid)
    deposition = selectors.deposition_for(dataset=dataset, target=_target(target))
    key = ((deposition.package or {}).get(key_name) if deposition else None) or ""
    if not key:
        raise Http404("the deposition has not been packaged")
    return deposition, key


def _stream(key: str, content_type: str, filename: str) -> HttpResponseBase:
    store = storage.get_store()
    try:
        size = store.size(key)
    except storage.ObjectNotFound:
        raise Http404("the package file is missing from storage") from None
    response = FileResponse(
        store.iter_chunks(key), content_type=content_type, as_attachment=True, filename=filename
    )
    response["Content-Length"] = str(size)
    return response


@login_required
@require_GET
def deposition_manifest(request: HttpRequest, pid: str, target: str) -> HttpResponseBase:
    deposition, key = _package_object(request, pid, target, "manifest_key")
    return _stream(key, "application/json", f"{pid}-{target}-manifest.json")


@login_required
@require_GET
def deposition_thumbnail(request: HttpRequest, pid: str, target: str) -> HttpResponseBase:
    deposition, key = _package_object(request, pid, target, "thumbnail_key")
    return _stream(key, "image/png", f"{pid}-{target}-thumbnail.png")


@login_required
@require_GET
def deposition_instructions(request: HttpRequest, pid: str, target: str) -> HttpResponse:
    deposition, _key = _package_object(request, pid, target, "manifest_key")
    return HttpResponse(
        packaging.transfer_instructions(deposition), content_type="text/plain; charset=utf-8"
    )


def prepare_url(dataset: Dataset, target: str) -> str:
    return reverse("deposition-prepare", kwargs={"pid": dataset.pid, "target": target})

"""Thin HTML views: parse input, ask ``repository.access``, call a selector or builder, render.

Every page that shows a dataset or its files goes through :func:`_dataset_or_404` (the
dataset must be visible to the user: ``access.datasets_visible_to``) and, for files, through
``access.can(user, LIST_FILES | DOWNLOAD, dataset)``. A dataset the user may not see answers
404, exactly like one that does not exist, so that private identifiers cannot be probed.
"""

from __future__ import annotations

import datetime as dt
from operator import attrgetter
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header, urlencode
from django.views.decorators.http import require_safe

import storage
from openem.errors import DomainError
from openem.site import site_url

from . import (
    access,
    bulk_downloads,
    citation,
    downloads,
    extensions,
    identifiers,
    jsonld,
    manifests,
    metadata_tables,
    search,
    selectors,
    services,
    versions,
)
from .models import AuditAction, DataFile, Dataset, DatasetVersion, VersionState

HTMX_HEADER = "HX-Request"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get(HTMX_HEADER) == "true"


def _error(
    request: HttpRequest, *, status: int, title: str, message: str, **extra: Any
) -> HttpResponse:
    return render(
        request,
        "repository/error.html",
        {"title": title, "message": message, **extra},
        status=status,
    )


def _not_found(request: HttpRequest, what: str = "dataset") -> HttpResponse:
    return _error(
        request,
        status=404,
        title="Not found",
        message=(
            f"There is no {what} with this identifier that you may see. If it is private, "
            "log in with an account of its project or facility."
        ),
    )


def _dataset_or_404(request: HttpRequest, pid: str) -> Dataset | None:
    return selectors.dataset_for_user(user=request.user, pid=pid)


def _files_refused(request: HttpRequest, dataset: Dataset) -> HttpResponse:
    if dataset.embargo_until:
        message = (
            f"The files of this dataset are under embargo until "
            f"{dataset.embargo_until:%Y-%m-%d}. Its description is public so that it can be "
            "found and cited."
        )
    else:
        message = "The files of this dataset are not open to you."
    return _error(
        request, status=403, title="Files not available", message=message, dataset=dataset
    )


def _file_or_none(dataset: Dataset, file_id: int) -> DataFile | None:
    return DataFile.objects.filter(dataset=dataset, pk=file_id).select_related("dataset").first()


def _landing_url(dataset: Dataset) -> str:
    return site_url() + dataset.get_absolute_url()


def _directory_query(directory: str, **extra: str) -> str:
    params = {"dir": directory} if directory else {}
    params.update({k: v for k, v in extra.items() if v})
    return "?" + urlencode(params) if params else ""


# ---------------------------------------------------------------------------------------------
# Home and search


HOME_COUNTS_SECONDS = 300


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    facets = search.dataset_facets(user=request.user, query=search.DatasetQuery())
    # The headline numbers add up every visible file: worth a few minutes of cache.
    who = f"user:{request.user.pk}" if request.user.is_authenticated else "anonymous"
    counts = cache.get_or_set(
        f"openem:home:counts:{who}",
        lambda: selectors.portal_counts(user=request.user),
        HOME_COUNTS_SECONDS,
    )
    return render(
        request,
        "repository/home.html",
        {
            "recent": selectors.recent_datasets(user=request.user),
            "counts": counts,
            "facets": {facet.name: facet for facet in facets},
        },
    )


@require_safe
def dataset_list(request: HttpRequest) -> HttpResponse:
    query, problems = search.DatasetQuery.from_query(request.GET)
    result = search.search_page(user=request.user, query=query)
    previews = selectors.previews_for(request.user, result.datasets)
    for dataset in result.datasets:
        dataset.preview = previews.get(dataset.pk)  # type: ignore[attr-defined]
    context = {
        "result": result,
        "params": result.params,
        "messages_": [*problems, *result.messages],
        "ranges": [(spec, *result.params.range(spec.key)) for spec in search.RANGES],
        "sort_choices": search.Sort.CHOICES,
    }
    # htmx (hx-boost with hx-select) swaps the result part of this same page: one template.
    return render(request, "repository/dataset_list.html", context)


# ---------------------------------------------------------------------------------------------
# Landing page


def _tombstone(
    request: HttpRequest, dataset: Dataset, version: DatasetVersion | None
) -> HttpResponse:
    """410 Gone with the citation metadata and the reason: a withdrawn dataset or version keeps
    its identifier resolving, its files gone."""
    version = (
        version
        or versions.dataset_versions(dataset)
        .filter(state=VersionState.WITHDRAWN)
        .order_by("-number")
        .first()
    )
    shown = versions.version_as_dataset(version) if version is not None else dataset
    url = _landing_url(dataset)
    return render(
        request,
        "repository/tombstone.html",
        {
            "dataset": shown,
            "version": version,
            "authors": citation.authors(shown),
            "citation": citation.citation_text(
                shown, url=identifiers.cite_url(dataset, version, url)
            ),
            "url": url,
        },
        status=410,
    )


def _version_context(request: HttpRequest, dataset: Dataset) -> dict[str, Any]:
    listed = list(versions.dataset_versions(dataset))
    if not access.is_insider(request.user, dataset):
        listed = [v for v in listed if v.state != VersionState.DRAFT]
    latest = versions.version_latest_published(dataset)
    return {"versions": listed, "latest_version": latest}


@require_safe
@extensions.extensible(extensions.LANDING)  # fair: Accept, FAIR Signposting Link headers
def dataset_detail(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        withdrawn = selectors.dataset_tombstone(pid=pid)
        if withdrawn is not None:
            return _tombstone(request, withdrawn, None)
        return _not_found(request)
    if not access.is_insider(request.user, dataset):
        latest = versions.version_latest_published(dataset)
        if latest is not None and versions.version_draft(dataset) is not None:
            # Outsiders see the latest published version, never the draft being edited.
            return _version_page(request, dataset, latest)
    user = request.user
    can_list = access.can(user, access.Action.LIST_FILES, dataset)
    can_edit = access.can_edit(user, dataset)
    url = _landing_url(dataset)
    summary = selectors.file_summary_if_cheap(dataset)  # None: a second request counts
    page = selectors.file_page(dataset) if can_list else None
    bulk = bulk_downloads.bulk_size(dataset) if can_list and summary is not None else None
    distributions = _distributions(request, dataset, bulk) if can_list else []
    context = {
        "dataset": dataset,
        "url": url,
        "can_list_files": can_list,
        "can_edit": can_edit,
        "can_publish": access.can_publish(user, dataset),
        "is_insider": access.is_insider(user, dataset),
        "summary": summary,
        "authors": citation.authors(dataset),
        "citation": citation.citation_text(dataset, url=identifiers.cite_url(dataset, None, url)),
        "cross_references": citation.cross_references(dataset),
        "licence_url": citation.licence_url(dataset.licence),
        "groups": metadata_tables.metadata_groups(
            dataset,
            labels=metadata_tables.schema_labels(dataset),
            personal=access.sees_personal_data(user)(dataset),
        ),
        "validation": dataset.metadata_validation or {},
        "validation_checked": _checked_at(dataset.metadata_validation or {}),
        "gallery": selectors.gallery(dataset) if can_list else [],
        "page": page,
        "bulk": bulk,
        "expiry_minutes": settings.OPENEM_PRESIGN_EXPIRY // 60,
        "metadata_edit_url": _metadata_edit_url(dataset) if can_edit else "",
        "upload_sessions": _upload_sessions(dataset) if can_edit else [],
        **_version_context(request, dataset),
        "version": versions.version_draft(dataset) or versions.version_latest_published(dataset),
    }
    # fair's JSON-LD and identifier checks, ingest's live acquisition (repository.extensions)
    shown = extensions.LandingPage(request, dataset, None, can_list, can_edit, distributions)
    context = {**extensions.landing_context(shown), **context}
    return render(request, "repository/dataset_detail.html", context)


@require_safe
@extensions.extensible(extensions.LANDING)
def dataset_version(request: HttpRequest, pid: str, number: int) -> HttpResponse:
    """One version, as published: its frozen metadata and file list."""
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        withdrawn = selectors.dataset_tombstone(pid=pid)
        version = versions.version_get(withdrawn, number) if withdrawn else None
        if version is not None and version.state != VersionState.DRAFT:
            return _tombstone(request, withdrawn, version)  # type: ignore[arg-type]
        return _not_found(request)
    version = versions.version_get(dataset, number)
    if version is None or (
        version.state == VersionState.DRAFT and not access.is_insider(request.user, dataset)
    ):
        return _not_found(request, what=f"version {number} of this dataset")
    if version.state == VersionState.WITHDRAWN:
        return _tombstone(request, dataset, version)
    if version.state == VersionState.DRAFT:
        return HttpResponseRedirect(dataset.get_absolute_url())
    return _version_page(request, dataset, version)


def _version_page(request: HttpRequest, dataset: Dataset, version: DatasetVersion) -> HttpResponse:
    shown = versions.version_as_dataset(version)
    url = site_url() + version.get_absolute_url()
    can_list = dataset.status != "withdrawn" and (
        access.is_insider(request.user, dataset) or shown.files_are_open()
    )
    context = {
        "dataset": shown,
        "url": url,
        "can_list_files": False,
        "can_edit": False,
        "can_publish": access.can_publish(request.user, dataset),
        "is_insider": access.is_insider(request.user, dataset),
        "summary": None,
        "authors": citation.authors(shown),
        "citation": citation.citation_text(shown, url=identifiers.cite_url(dataset, version, url)),
        "cross_references": citation.cross_references(shown),
        "licence_url": citation.licence_url(shown.licence),
        "groups": metadata_tables.metadata_groups(
            shown, labels=metadata_tables.schema_labels(shown)
        ),
        "validation": {},
        "validation_checked": None,
        "gallery": [],
        "page": None,
        "bulk": None,
        "metadata_edit_url": "",
        "upload_sessions": [],
        **_version_context(request, dataset),
        "version": version,
        "newer_version": versions.version_newer(version),
        "version_files": list(versions.version_files(version)[:100]) if can_list else None,
    }
    page = extensions.LandingPage(request, dataset, version, False, False)
    context = {**extensions.landing_context(page), **context}
    return render(request, "repository/dataset_detail.html", context)


def _distributions(
    request: HttpRequest, dataset: Dataset, bulk: bulk_downloads.BulkSize | None
) -> list[jsonld.Distribution]:
    base = site_url()
    found = [
        jsonld.Distribution(
            "SHA-256 checksum manifest",
            base + reverse("dataset-manifest", args=[dataset.pid]),
            "text/plain",
            "sha256sum -c compatible list of every file",
        ),
        jsonld.Distribution(
            "Download URL list",
            base + reverse("dataset-urls", args=[dataset.pid]),
            "text/uri-list",
            "one presigned URL per file, for wget -i",
        ),
    ]
    if bulk is not None and bulk.zip_allowed:
        found.append(
            jsonld.Distribution(
                "ZIP archive of all files",
                base + reverse("dataset-zip", args=[dataset.pid]),
                "application/zip",
            )
        )
    return found


def _checked_at(validation: dict[str, Any]) -> dt.datetime | None:
    raw = validation.get("checked_at")
    return parse_datetime(raw) if isinstance(raw, str) else None


def _metadata_edit_url(dataset: Dataset) -> str:
    from django.urls import NoReverseMatch

    for name in ("metadata:dataset-metadata-edit", "dataset-metadata-edit"):
        try:
            return reverse(name, args=[dataset.pid])
        except NoReverseMatch:
            continue
    return ""


def _upload_sessions(dataset: Dataset) -> list[Any]:
    return list(dataset.upload_sessions.order_by("-created")[:5])


@require_safe
def dataset_summary(request: HttpRequest, pid: str) -> HttpResponse:
    """The file counts and the download choices of a big dataset, which its landing page
    loads after itself (htmx) rather than making people wait for the counting."""
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return _not_found(request)
    can_list = access.can(request.user, access.Action.LIST_FILES, dataset)
    return render(
        request,
        "repository/_summary.html",
        {
            "dataset": dataset,
            "summary": selectors.file_summary(dataset),
            "can_list_files": can_list,
            "bulk": bulk_downloads.bulk_size(dataset) if can_list else None,
            "expiry_minutes": settings.OPENEM_PRESIGN_EXPIRY // 60,
        },
    )


@require_safe
@extensions.extensible(extensions.METADATA)
def dataset_citation(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return _not_found(request)
    response = HttpResponse(
        citation.bibtex(dataset, url=identifiers.cite_url(dataset, None, _landing_url(dataset))),
        content_type="application/x-bibtex; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, f"{dataset.pid}.bib")
    return response


# ---------------------------------------------------------------------------------------------
# File browser and single files


@require_safe
def dataset_files(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return _not_found(request)
    if not access.can(request.user, access.Action.LIST_FILES, dataset):
        return _files_refused(request, dataset)
    directory = selectors.normalise_directory(request.GET.get("dir"))
    if not selectors.directory_exists(dataset, directory):
        return _error(
            request,
            status=404,
            title="No such folder",
            message=f"The dataset has no folder {directory!r}.",
            dataset=dataset,
        )
    page = selectors.file_page(
        dataset,
        directory=directory,
        after=request.GET.get("after"),
        before=request.GET.get("before"),
    )
    context = {
        "dataset": dataset,
        "page": page,
        "bulk": bulk_downloads.bulk_size(dataset, directory=directory) if directory else None,
        "expiry_minutes": settings.OPENEM_PRESIGN_EXPIRY // 60,
    }
    template = "repository/_file_browser.html" if _is_htmx(request) else "repository/file_list.html"
    return render(request, template, context)


@require_safe
@extensions.extensible(extensions.FILE)
def datafile_detail(request: HttpRequest, pid: str, file_id: int) -> HttpResponse:
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return _not_found(request)
    if not access.can(request.user, access.Action.LIST_FILES, dataset):
        return _files_refused(request, dataset)
    datafile = _file_or_none(dataset, file_id)
    if datafile is None:
        return _not_found(request, "file")
    rows, truncated = metadata_tables.header_rows(
        {k: v for k, v in (datafile.header or {}).items() if not str(k).startswith("_")}
    )
    warnings = (datafile.header or {}).get("_warnings") or []
    return render(
        request,
        "repository/file_detail.html",
        {
            "dataset": dataset,
            "file": datafile,
            "header_rows": rows,
            "header_truncated": truncated,
            "warnings": warnings if isinstance(warnings, list) else [str(warnings)],
            "crumbs": selectors.FilePage(
                datafile.directory, [], [], False, None, None, True
            ).crumbs,
            "can_download": access.can(request.user, access.Action.DOWNLOAD, dataset),
        },
    )


@extensions.extensible(extensions.FILE)
def datafile_download(request: HttpRequest, pid: str, file_id: int) -> HttpResponseBase:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return _not_found(request)
    if not access.can(request.user, access.Action.DOWNLOAD, dataset):
        return _files_refused(request, dataset)
    datafile = _file_or_none(dataset, file_id)
    if datafile is None:
        return _not_found(request, "file")
    return _serve(request, datafile)


def _serve(request: HttpRequest, datafile: DataFile) -> HttpResponseBase:
    try:
        return downloads.datafile_response(request, datafile=datafile)
    except DomainError as exc:
        return _error(request, status=exc.status, title="Not available yet", message=exc.message)
    except storage.ObjectNotFound:
        return _error(
            request,
            status=404,
            title="File missing from storage",
            message=f"{datafile.path} is recorded but its bytes are missing; the facility has been told by the fixity check.",
        )


def signed_download(request: HttpRequest, token: str, name: str) -> HttpResponseBase:
    """A file through a signed, expiring link (URL lists on local storage). The access of the
    user the link was made for is checked again, so a revoked right also revokes the link."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    opened = bulk_downloads.signed_download_open(token)
    if opened is None:
        return _error(
            request,
            status=403,
            title="Link expired",
            message="This download link is invalid or has expired; make a new URL list on the dataset's page.",
        )
    file_id, user_id = opened
    user: Any = AnonymousUser()
    if user_id is not None:
        user = (
            get_user_model().objects.filter(pk=user_id, is_active=True).first() or AnonymousUser()
        )
    datafile = DataFile.objects.filter(pk=file_id).select_related("dataset").first()
    if datafile is None or not access.can(user, access.Action.DOWNLOAD, datafile.dataset):
        return _error(
            request,
            status=403,
            title="Not allowed",
            message="This link no longer gives access to the file.",
        )
    request.user = user  # the audit trail records the person the link was made for
    return _serve(request, datafile)


@require_safe
def datafile_thumbnail(request: HttpRequest, pid: str, file_id: int) -> HttpResponseBase:
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return HttpResponse(status=404)
    if not access.can(request.user, access.Action.LIST_FILES, dataset):
        return HttpResponse(status=403)
    datafile = _file_or_none(dataset, file_id)
    if datafile is None or not datafile.thumbnail_key:
        return HttpResponse(status=404)
    store = storage.get_store()
    presigned = storage.presign_for(
        store, request.method or "GET", datafile.thumbnail_key, expires=900
    )
    if presigned:
        response: HttpResponseBase = HttpResponseRedirect(presigned)
    else:
        try:
            data = store.read(datafile.thumbnail_key, 0, 16 * 1024 * 1024)
        except storage.ObjectNotFound:
            return HttpResponse(status=404)
        response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=600"
    return response


# ---------------------------------------------------------------------------------------------
# Whole dataset or folder: manifest, URL list, ZIP


def _bulk_target(request: HttpRequest, pid: str) -> tuple[Dataset | None, str, HttpResponse | None]:
    dataset = _dataset_or_404(request, pid)
    if dataset is None:
        return None, "", _not_found(request)
    if not access.can(request.user, access.Action.DOWNLOAD, dataset):
        return dataset, "", _files_refused(request, dataset)
    directory = selectors.normalise_directory(request.GET.get("dir"))
    return dataset, directory, None


def _bulk_name(dataset: Dataset, directory: str, suffix: str) -> str:
    folder = "-" + directory.replace("/", "_") if directory else ""
    return f"{dataset.pid}{folder}.{suffix}"


@require_safe
def dataset_manifest(request: HttpRequest, pid: str) -> HttpResponse | StreamingHttpResponse:
    dataset, directory, refusal = _bulk_target(request, pid)
    if refusal is not None or dataset is None:
        return refusal or _not_found(request)
    stream = manifests.manifest_stream(
        dataset,
        manifest_format=manifests.ManifestFormat.SHA256SUM,
        prefix=f"{directory}/" if directory else "",
    )
    response = StreamingHttpResponse(stream, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        True, _bulk_name(dataset, directory, "sha256")
    )
    return response


@require_safe
def dataset_urls(request: HttpRequest, pid: str) -> HttpResponse | StreamingHttpResponse:
    dataset, directory, refusal = _bulk_target(request, pid)
    if refusal is not None or dataset is None:
        return refusal or _not_found(request)
    list_format = request.GET.get("format") or "wget"
    if list_format not in bulk_downloads.URL_LIST_FORMATS:
        return _error(
            request, status=400, title="Unknown format", message="Use format=wget or format=curl."
        )
    expires_at = timezone.now() + dt.timedelta(seconds=settings.OPENEM_PRESIGN_EXPIRY)
    store = storage.get_store()
    user = request.user
    site = site_url()

    def url_for(datafile: DataFile) -> str:
        presigned = store.presign_get(datafile.storage_key, filename=datafile.name)
        if presigned:
            return presigned
        token = bulk_downloads.signed_download_token(datafile=datafile, user=user)
        return site + reverse("signed-download", args=[token, datafile.name])

    files = bulk_downloads.bulk_files(dataset, directory=directory).only(
        "pk", "path", "name", "storage_key"
    )
    if access.download_is_audited(dataset):
        size = bulk_downloads.bulk_size(dataset, directory=directory)
        services.audit_record(
            actor=user,
            action=AuditAction.DOWNLOAD,
            target=dataset,
            dataset=dataset,
            details={"url_list": directory or "/", "files": size.files, "bytes": size.bytes},
        )
    stream = bulk_downloads.url_list_stream(
        selectors.in_path_pages(files, chunk_size=2000, path_of=attrgetter("path")),
        url_for=url_for,
        list_format=list_format,
        expires_at=expires_at,
        root=directory,
    )
    suffix = bulk_downloads.URL_LIST_FORMATS[list_format].filename_suffix
    response = StreamingHttpResponse(stream, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        True, _bulk_name(dataset, directory, suffix)
    )
    response["Expires"] = expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    response["X-OpenEM-Links-Expire"] = expires_at.isoformat()
    return response


@require_safe
def dataset_zip(request: HttpRequest, pid: str) -> HttpResponse | StreamingHttpResponse:
    dataset, directory, refusal = _bulk_target(request, pid)
    if refusal is not None or dataset is None:
        return refusal or _not_found(request)
    size = bulk_downloads.bulk_size(dataset, directory=directory)
    if not size.zip_allowed:
        if not size.files:
            message = "There are no stored files here yet."
        elif size.capped:
            message = (
                f"This holds more than {bulk_downloads.ZIP_MAX_FILES} files, more than a ZIP download "
                "may have."
            )
        else:
            message = (
                f"These {size.files} files hold {size.bytes} bytes, more than the "
                f"{size.zip_limit} bytes a ZIP download may have."
            )
        if size.files:
            message += (
                " Download them with the checksum manifest and the URL list (wget or curl), "
                f"or with the openem command-line client: openem download {dataset.pid} --to DIR."
            )
        return _error(
            request,
            status=409 if size.files else 404,
            title="Too large for a ZIP" if size.files else "Nothing to download",
            message=message,
            dataset=dataset,
            manifest_url=reverse("dataset-manifest", args=[dataset.pid])
            + _directory_query(directory),
            urls_url=reverse("dataset-urls", args=[dataset.pid]) + _directory_query(directory),
        )
    if access.download_is_audited(dataset):
        services.audit_record(
            actor=request.user,
            action=AuditAction.DOWNLOAD,
            target=dataset,
            dataset=dataset,
            details={"zip": directory or "/", "files": size.files, "bytes": size.bytes},
        )
    files = bulk_downloads.bulk_files(dataset, directory=directory).only(
        "pk", "path", "size", "storage_key", "created"
    )
    response = StreamingHttpResponse(
        bulk_downloads.zip_stream(
            selectors.in_path_pages(files, chunk_size=500, path_of=attrgetter("path")),
            root=directory,
        ),
        content_type="application/zip",
    )
    response["Content-Disposition"] = content_disposition_header(
        True, _bulk_name(dataset, directory, "zip")
    )
    return response

"""HTTP interfaces of the FAIR surfaces: thin, each parses input, calls one module, renders.

Access: every view resolves what it shows with :func:`fair.targets.resolve` (which reads
through ``repository.selectors`` and ``repository.access``), so a harvester or machine client
sees exactly what a person would.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.sitemaps import views as sitemap_views
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.cache import cache_page
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

import storage
from openem.site import site_url
from repository import access, services, versions
from repository.models import AuditAction, VersionFile

from . import exports, formats, negotiation, oai, signposting, sitemaps
from .targets import Refusal, Target, resolve

# Kept for importers of the earlier module: the media types live in fair.formats.
DATACITE_XML = formats.DATACITE_XML
DATACITE_JSON = formats.DATACITE_JSON
STREAM_CHUNK = 1024 * 1024


def _target(request: HttpRequest, pid: str, number: int | None) -> Target | HttpResponse:
    found = resolve(request.user, pid, number)
    if isinstance(found, Refusal):
        return negotiation.refusal_response(found)
    return found


@require_safe
def metadata_export(
    request: HttpRequest, pid: str, filename: str, number: int | None = None
) -> HttpResponse:
    """``/datasets/<pid>/[v/<n>/]<filename>``: one machine form of the landing page."""
    fmt = formats.BY_FILENAME.get(filename)
    if fmt is None:
        raise Http404
    target = _target(request, pid, number)
    if isinstance(target, HttpResponse):
        return target
    options = {"style": request.GET["style"]} if request.GET.get("style") else {}
    response = negotiation.render_format(target, fmt, options)
    if fmt.key in ("datacite-xml", "bibtex") and response.status_code == 200:
        response["Content-Disposition"] = (
            content_disposition_header(False, f"{target.dataset.pid}.{filename}") or ""
        )
    return response


@require_safe
def linkset(
    request: HttpRequest, pid: str, number: int | None = None, *, as_json: bool = False
) -> HttpResponse:
    """The Level 2 linkset (RFC 9264), as ``application/linkset`` or ``application/linkset+json``
    by URL (``linkset``, ``linkset.json``)."""
    target = _target(request, pid, number)
    if isinstance(target, HttpResponse):
        return target
    return negotiation.render_linkset(target, as_json=as_json)


@require_safe
def linkset_json(request: HttpRequest, pid: str, number: int | None = None) -> HttpResponse:
    return linkset(request, pid, number, as_json=True)


@require_safe
def bag(request: HttpRequest, pid: str, number: int | None = None) -> HttpResponseBase:
    """The BagIt bag of a published version (``/datasets/<pid>/bag.zip``: the latest)."""
    target = _target(request, pid, number)
    if isinstance(target, HttpResponse):
        return target
    version = target.frozen
    if version is None:
        return negotiation.refusal_response(
            Refusal(404, f"{pid} has no published version yet: bags are made of versions.")
        )
    if not target.files_open:
        return negotiation.refusal_response(target.files_refusal())
    try:
        stream = exports.bag_stream(target, version)
    except exports.ChecksumsMissing as exc:
        return negotiation.refusal_response(Refusal(409, str(exc)))
    if access.download_is_audited(target.dataset) or access.download_is_audited(target.shown):
        services.audit_record(
            actor=request.user,
            action=AuditAction.DOWNLOAD,
            target=target.dataset,
            dataset=target.dataset,
            details={"bag": version.number, "files": version.file_count},
        )
    response = StreamingHttpResponse(stream, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(
        True, exports.bag_filename(target, version)
    )
    response["Link"] = signposting.link_header([signposting.describes_link(target)])
    return response


def version_file(request: HttpRequest, pid: str, number: int, path: str) -> HttpResponseBase:
    """One file of a published version (``item`` links, fetch.txt on local storage): a
    redirect to a presigned URL, or the bytes streamed. ``?token=`` (from a bag's fetch.txt)
    stands for the person the bag was made for; their access is checked again."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    user = request.user
    token = request.GET.get("token")
    token_file_id: int | None = None
    if token:
        opened = exports.version_file_token_open(token)
        if opened is None:
            return negotiation.refusal_response(
                Refusal(403, "This link is invalid or has expired; download the bag again.")
            )
        token_file_id, user_id = opened
        user = (
            get_user_model().objects.filter(pk=user_id, is_active=True).first()
            if user_id is not None
            else None
        ) or AnonymousUser()
    found = resolve(user, pid, number)
    if isinstance(found, Refusal):
        return negotiation.refusal_response(found)
    if not found.files_open or found.version is None:
        return negotiation.refusal_response(found.files_refusal())
    row = versions.version_files(found.version).filter(path=path).first()
    if token_file_id is not None and (row is None or row.pk != token_file_id):
        # The link stands for its person for one file only, not for all they may read.
        return negotiation.refusal_response(
            Refusal(403, "This link is for another file; download the bag again.")
        )
    if row is None:
        return negotiation.refusal_response(Refusal(404, f"version {number} has no {path!r}"))
    if access.download_is_audited(found.dataset) or access.download_is_audited(found.shown):
        services.audit_record(
            actor=user,
            action=AuditAction.DOWNLOAD,
            target=found.dataset,
            dataset=found.dataset,
            details={"version": number, "path": row.path, "bytes": row.size},
        )
    response = _serve_version_file(request, row)
    response["Link"] = signposting.link_header([signposting.collection_link(found)])
    return response


def _serve_version_file(request: HttpRequest, row: VersionFile) -> HttpResponseBase:
    store = storage.get_store()
    presigned = storage.presign_for(store, request.method or "GET", row.storage_key)
    if presigned:
        return HttpResponseRedirect(presigned)

    def chunks() -> Iterator[bytes]:
        offset = 0
        while offset < row.size:
            data = store.read(row.storage_key, offset, min(STREAM_CHUNK, row.size - offset))
            if not data:
                return
            offset += len(data)
            yield data

    response = StreamingHttpResponse(
        chunks() if request.method == "GET" else iter(()),
        content_type="application/octet-stream",
    )
    response["Content-Length"] = str(row.size)
    response["Content-Disposition"] = content_disposition_header(True, row.name)
    return response


@csrf_exempt  # harvesters POST without a session; the endpoint only reads
@require_http_methods(["GET", "HEAD", "POST"])
def oai_pmh(request: HttpRequest) -> HttpResponse:
    query = request.POST if request.method == "POST" else request.GET
    pairs = [(name, value) for name, values in query.lists() for value in values]
    return HttpResponse(oai.handle(pairs), content_type="text/xml; charset=utf-8")


#: A page of 10,000 URLs takes about 1.5 s to render at 10^5 datasets; crawlers may wait for
#: a change that long. Only what anonymous visitors may see is listed, so one copy serves all.
SITEMAP_CACHE_SECONDS = 600


@require_safe
@cache_page(SITEMAP_CACHE_SECONDS)
def sitemap_index(request: HttpRequest) -> HttpResponse:
    return sitemap_views.index(request, sitemaps.SITEMAPS, sitemap_url_name="sitemap-section")  # type: ignore[no-any-return]


@require_safe
@cache_page(SITEMAP_CACHE_SECONDS)
def sitemap_section(request: HttpRequest, section: str) -> HttpResponse:
    """One page of a section (``?p=N``); a page past the end, or not a number, is 404."""
    return sitemap_views.sitemap(request, sitemaps.SITEMAPS, section=section)  # type: ignore[no-any-return]


#: Crawling traps: the API, search result permutations, file browsers, bulk downloads and the
#: harvesting protocol have their own clients; landing pages and the sitemap are for crawlers.
ROBOTS_DISALLOW = (
    "/api/",
    "/accounts/",
    "/admin/",
    "/upload/",
    "/download/",
    "/oai",
    "/datasets/?",
    "/datasets/*/files/",
    "/datasets/*/v/*/files/",
    "/datasets/*/download.zip",
    "/datasets/*/bag.zip",
    "/datasets/*/urls.txt",
    "/datasets/*/manifest.sha256",
    "/datasets/*/summary",
)


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = ["User-agent: *", *(f"Disallow: {path}" for path in ROBOTS_DISALLOW), ""]
    lines.append(f"Sitemap: {site_url()}{reverse('sitemap-index')}")
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")

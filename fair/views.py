"""HTTP interfaces of the FAIR surfaces: thin, each parses input, calls one module, renders.

Access: every view reads datasets through ``repository.selectors`` (which uses
``repository.access``), so a harvester or machine client sees exactly what a person would.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from repository import selectors

from . import datacite, oai

DATACITE_XML = "application/vnd.datacite.datacite+xml"
DATACITE_JSON = "application/vnd.datacite.datacite+json"


def _not_found() -> HttpResponse:
    return HttpResponse(
        "There is no dataset with this identifier that you may see.\n",
        status=404,
        content_type="text/plain; charset=utf-8",
    )


@require_safe
def datacite_xml(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = selectors.dataset_for_user(user=request.user, pid=pid)
    if dataset is None:
        return _not_found()
    response = HttpResponse(
        datacite.datacite_xml(dataset), content_type=f"{DATACITE_XML}; charset=utf-8"
    )
    response["Content-Disposition"] = f'inline; filename="{dataset.pid}.datacite.xml"'
    return response


@require_safe
def datacite_json(request: HttpRequest, pid: str) -> HttpResponse:
    dataset = selectors.dataset_for_user(user=request.user, pid=pid)
    if dataset is None:
        return _not_found()
    document = {"data": {"type": "dois", "attributes": datacite.datacite_attributes(dataset)}}
    return HttpResponse(
        json.dumps(document, ensure_ascii=False, indent=1),
        content_type=f"{DATACITE_JSON}; charset=utf-8",
    )


@csrf_exempt  # harvesters POST without a session; the endpoint only reads
@require_http_methods(["GET", "HEAD", "POST"])
def oai_pmh(request: HttpRequest) -> HttpResponse:
    query = request.POST if request.method == "POST" else request.GET
    pairs = [(name, value) for name, values in query.lists() for value in values]
    return HttpResponse(oai.handle(pairs), content_type="text/xml; charset=utf-8")

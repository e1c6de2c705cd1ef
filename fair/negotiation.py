"""Content negotiation on the landing URL (``/datasets/<pid>/`` and ``/datasets/<pid>/v/<n>/``):
``Accept`` picks HTML (browsers, ``*/*``, no header) or one of the machine forms of
:mod:`fair.formats` (the DOI content-negotiation media types: DataCite XML/JSON, JSON-LD,
BibTeX, CSL-JSON, ``text/x-bibliography`` with ``style=``), or a linkset. A type the portal
does not offer answers 406 with the list of those it does. Every answer varies on Accept.

:func:`landing_view` wraps the landing views of ``repository.views`` (registered with
``repository.extensions`` in ``FairConfig.ready``): it answers the machine forms itself and
adds the FAIR Signposting ``Link`` header to the HTML page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers

from . import citations, formats, signposting
from .targets import Refusal, Target, resolve

HTML = "text/html"
XHTML = "application/xhtml+xml"


@dataclass(frozen=True)
class Offer:
    media_type: str
    key: str  # a formats.BY_KEY key, "html", "linkset" or "linkset-json"


#: In the order a tie (``*/*``, ``application/*``) is broken: HTML first.
OFFERS: tuple[Offer, ...] = (
    Offer(HTML, "html"),
    Offer(XHTML, "html"),
    *(Offer(fmt.media_type, fmt.key) for fmt in formats.FORMATS if fmt.key != "ro-crate"),
    Offer(signposting.LINKSET_JSON, "linkset-json"),
    Offer(signposting.LINKSET, "linkset"),
)


@dataclass(frozen=True)
class Wanted:
    media_type: str
    quality: float
    params: dict[str, str]
    order: int


def parse_accept(header: str) -> list[Wanted]:
    """The media ranges of an Accept header with their quality (RFC 9110 section 12.5.1);
    malformed parts are skipped."""
    wanted = []
    for order, part in enumerate(header.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        media_type = pieces[0].lower()
        if media_type.count("/") != 1:
            continue
        quality, params = 1.0, {}
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
            elif name:
                params[name] = value
        wanted.append(Wanted(media_type, quality, params, order))
    return wanted


def _matches(media_range: str, offered: str) -> int:
    """How specifically ``media_range`` names ``offered``: 2 exactly, 1 ``type/*``, 0
    ``*/*``, -1 not at all."""
    if media_range == offered:
        return 2
    kind, _, sub = media_range.partition("/")
    if sub == "*" and offered.startswith(kind + "/"):
        return 1
    return 0 if media_range == "*/*" else -1


def choose(header: str | None) -> tuple[Offer, dict[str, str]] | None:
    """The offer ``header`` prefers (with its parameters, e.g. ``style``), or None when it
    accepts nothing offered. No header: HTML."""
    if not header or not header.strip():
        return OFFERS[0], {}
    ranges = parse_accept(header)
    if not ranges:
        return OFFERS[0], {}
    best: tuple[float, int, int, int] | None = None
    chosen: tuple[Offer, dict[str, str]] | None = None
    for index, offer in enumerate(OFFERS):
        # The most specific range naming this offer sets its quality (RFC 9110).
        specific = max(
            ((_matches(w.media_type, offer.media_type), w) for w in ranges),
            key=lambda pair: pair[0],
        )
        level, wanted = specific
        if level < 0 or wanted.quality <= 0:
            continue
        rank = (wanted.quality, level, -wanted.order, -index)
        if best is None or rank > best:
            best, chosen = rank, (offer, wanted.params if level == 2 else {})
    return chosen


def offered_types() -> list[str]:
    return list(dict.fromkeys(offer.media_type for offer in OFFERS))


def not_acceptable(header: str) -> HttpResponse:
    lines = "\n".join(offered_types())
    response = HttpResponse(
        f"None of the media types in Accept: {header[:200]} is offered here. Offered:\n{lines}\n",
        status=406,
        content_type="text/plain; charset=utf-8",
    )
    patch_vary_headers(response, ["Accept"])
    return response


def refusal_response(refusal: Refusal) -> HttpResponse:
    return HttpResponse(
        refusal.message + "\n", status=refusal.status, content_type="text/plain; charset=utf-8"
    )


def render_format(
    target: Target, fmt: formats.MetadataFormat, options: dict[str, str]
) -> HttpResponse:
    """One machine form of ``target``, with its ``describes`` link back to the landing page.
    An unknown ``style`` answers 400 with the styles offered."""
    try:
        body = fmt.render(target, options)
    except citations.UnknownStyle as exc:
        return HttpResponse(str(exc) + "\n", status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(body, content_type=fmt.content_type)
    response["Link"] = signposting.link_header([signposting.describes_link(target)])
    return response


def render_linkset(target: Target, *, as_json: bool) -> HttpResponse:
    if as_json:
        return HttpResponse(signposting.linkset_json(target), content_type=signposting.LINKSET_JSON)
    return HttpResponse(signposting.linkset_text(target), content_type=signposting.LINKSET)


def negotiated(
    request: HttpRequest, target: Target, offer: Offer, params: dict[str, str]
) -> HttpResponse:
    """The response for a non-HTML offer."""
    if offer.key == "linkset-json":
        return render_linkset(target, as_json=True)
    if offer.key == "linkset":
        return render_linkset(target, as_json=False)
    options = dict(params)
    if request.GET.get("style"):
        options["style"] = request.GET["style"]
    response = render_format(target, formats.BY_KEY[offer.key], options)
    response["Content-Location"] = formats.BY_KEY[offer.key].url(target)
    return response


def landing_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a landing view: machine forms by Accept, Signposting links on the HTML page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, pid: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        number = kwargs.get("number", args[0] if args else None)
        header = request.headers.get("Accept", "")
        picked = choose(header)
        if picked is None:
            return not_acceptable(header)
        offer, params = picked
        if offer.key != "html":
            found = resolve(request.user, pid, number)
            if isinstance(found, Refusal):
                response: HttpResponseBase = refusal_response(found)
            else:
                response = negotiated(request, found, offer, params)
            patch_vary_headers(response, ["Accept"])
            return response
        response = view(request, pid, *args, **kwargs)
        if response.status_code == 200:
            found = resolve(request.user, pid, number)
            if isinstance(found, Target):
                response["Link"] = signposting.link_header(signposting.landing_links(found))
        elif response.status_code == 410:
            links = signposting.tombstone_links(pid, number)
            if links:
                response["Link"] = signposting.link_header(links)
        patch_vary_headers(response, ["Accept"])
        return response

    return wrapper


def file_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a view of one file of a dataset: the answer links its dataset's landing page
    (``collection``), as FAIR Signposting asks of content resources."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, pid: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, pid, *args, **kwargs)
        if response.status_code < 400:
            found = resolve(request.user, pid)
            if isinstance(found, Target):
                response["Link"] = signposting.link_header([signposting.collection_link(found)])
        return response

    return wrapper


def metadata_view(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Wrap a view of a metadata record of a dataset: the answer links the landing page it
    describes (``describes``)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, pid: str, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, pid, *args, **kwargs)
        if response.status_code < 400:
            found = resolve(request.user, pid)
            if isinstance(found, Target):
                response["Link"] = signposting.link_header([signposting.describes_link(found)])
        return response

    return wrapper

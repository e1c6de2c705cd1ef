"""The portal's public base URL, for links that leave the page (identifiers, citations,
BibTeX, JSON-LD, wget/curl lists, OAI-PMH).

``OPENEM_SITE_URL`` when it is set; otherwise the scheme and host of the request being
answered (``make run`` on any ``HOST``/``PORT`` then links to itself), which Django checks
against ``ALLOWED_HOSTS``. Outside a request (tasks, commands) it is the setting's default.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse

_request_base: ContextVar[str | None] = ContextVar("openem_request_base", default=None)


def site_url() -> str:
    """``http://host:port`` without a trailing slash."""
    if settings.OPENEM_SITE_URL_SET:
        return str(settings.OPENEM_SITE_URL)
    return _request_base.get() or str(settings.OPENEM_SITE_URL)


def request_base(request: HttpRequest) -> str | None:
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return None


class SiteUrlMiddleware:
    """Remembers the request's base URL for :func:`site_url` while it is answered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_base.set(None if settings.OPENEM_SITE_URL_SET else request_base(request))
        try:
            return self.get_response(request)
        finally:
            _request_base.reset(token)

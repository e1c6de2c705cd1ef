"""Security middleware: the Content-Security-Policy (django-csp's, plus the object store's
origins) and the refusal of paths that can name nothing.

Browsers upload parts and fetch downloads and thumbnails straight from S3 (presigned URLs), so
the policy's ``img-src`` and ``connect-src`` include the store's public origin, asked of the
storage module per response (the store is a setting; tests switch it). ``form-action`` adds
the sign-in providers' origins (accounts.selectors.provider_origins).
"""

from __future__ import annotations

from collections.abc import Callable

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import Http404, HttpRequest, HttpResponseBase

from accounts.selectors import provider_origins
from storage import browser_origins


class StorageAwareCSPMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        origins = browser_origins()
        if origins:
            update = dict(parts.update or {})
            for directive in ("img-src", "connect-src"):
                update[directive] = [*update.get(directive, []), *origins]
            parts.update = update
        # Signing in posts a form to the portal that redirects to the OpenID Connect provider:
        # browsers check that redirect against form-action too.
        sign_in = provider_origins()
        if sign_in:
            update = dict(parts.update or {})
            update["form-action"] = [*update.get("form-action", []), *sign_in]
            parts.update = update
        return parts


class ImpossiblePathMiddleware:
    """A path with a NUL character names nothing the portal holds (PostgreSQL refuses NUL in a
    query, so a lookup would fail with a server error): every such path is the branded 404,
    page or API alike, before any view runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if "\x00" in request.path:
            raise Http404("no such page")
        return self.get_response(request)

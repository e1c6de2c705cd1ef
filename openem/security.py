"""The Content-Security-Policy middleware: django-csp's, plus the object store's origins.

Browsers upload parts and fetch downloads and thumbnails straight from S3 (presigned URLs), so
the policy's ``img-src`` and ``connect-src`` include the store's public origin, asked of the
storage module per response (the store is a setting; tests switch it).
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase

from ingest.storage import browser_origins


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
        return parts

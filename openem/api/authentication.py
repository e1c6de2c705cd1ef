"""What an API token may do: :class:`TokenScopePermission` keeps read-only tokens read-only
and facility-upload tokens on the upload endpoints.

The token itself is the repository's (``repository.api.authentication`` authenticates it,
``repository.tokens`` holds the rules); this module sees only its scope (:class:`ScopedToken`).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from rest_framework import permissions
from rest_framework.request import Request

#: The scopes of a token (``repository.models.TokenScope`` has these values).
READ = "read"
READ_WRITE = "read_write"
FACILITY_UPLOAD = "facility_upload"


@runtime_checkable
class ScopedToken(Protocol):
    """What the API asks of the token a request was authenticated with (``request.auth``):
    its scope; a facility-upload token also has a ``facility`` (for the refusal's wording)."""

    scope: str


def request_token(request: Request) -> ScopedToken | None:
    """The API token this request was authenticated with, if any (None for a session)."""
    return request.auth if isinstance(request.auth, ScopedToken) else None


#: What a facility-upload token may use (``api`` URL names): create datasets and upload
#: sessions and send files, and read what that needs (its facility's datasets, their files'
#: states, the facility's instruments and projects). No downloads, manifests, publishing,
#: metadata editing, depositions or statistics.
FACILITY_UPLOAD_VIEWS = {
    "root": permissions.SAFE_METHODS,
    "dataset-list": ("GET", "HEAD", "OPTIONS", "POST"),
    "dataset-detail": permissions.SAFE_METHODS,
    "datafile-list": permissions.SAFE_METHODS,
    "facility-list": permissions.SAFE_METHODS,
    "facility-detail": permissions.SAFE_METHODS,
    "instrument-list": permissions.SAFE_METHODS,
    "instrument-detail": permissions.SAFE_METHODS,
    "project-list": permissions.SAFE_METHODS,
    "project-detail": permissions.SAFE_METHODS,
    "token-list": permissions.SAFE_METHODS,
    "upload-list": ("GET", "HEAD", "OPTIONS", "POST"),
    "upload-detail": permissions.SAFE_METHODS,
    "upload-complete": ("POST",),
    "upload-status": permissions.SAFE_METHODS,
    "upload-files": ("GET", "HEAD", "OPTIONS", "POST"),
    "upload-multipart": ("POST",),
    "upload-multipart-parts": ("GET", "POST"),
    "upload-multipart-complete": ("POST",),
    "upload-content": ("GET", "PUT"),
}


class TokenScopePermission(permissions.BasePermission):
    """Requests made with a read-scope token may only read (GET, HEAD, OPTIONS); those made
    with a facility-upload token only use the upload endpoints (:data:`FACILITY_UPLOAD_VIEWS`),
    and ``repository.access`` confines them to the token's facility."""

    message = (
        "this API token has the 'read' scope and cannot change anything; "
        "create a token with the 'read_write' scope on your profile page"
    )
    code = "token_read_only"

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request_token(request)
        if token is None:
            return True
        if token.scope == FACILITY_UPLOAD:
            return self._facility_upload_allows(request, token)
        if request.method in permissions.SAFE_METHODS:
            return True
        return token.scope == READ_WRITE

    def _facility_upload_allows(self, request: Request, token: ScopedToken) -> bool:
        match = getattr(request, "resolver_match", None)
        allowed = FACILITY_UPLOAD_VIEWS.get(match.url_name or "", ()) if match else ()
        in_api = match is not None and "api" in match.namespaces
        if in_api and request.method in allowed:
            return True
        facility = getattr(token, "facility", None)
        self.message = (
            f"this API token may only upload to {facility.name if facility else '?'} "
            "(scope 'facility_upload'): it cannot use this endpoint"
        )
        self.code = "token_facility_upload_only"
        return False

"""API authentication: personal tokens (``Authorization: Token <secret>`` or ``Bearer <secret>``)
next to the browser session, and the permission that keeps read-only tokens read-only.

The token rules themselves (hashing, expiry, revocation) live in ``repository.tokens``; this
module only speaks HTTP.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from repository import access
from repository.models import ApiToken, TokenScope
from repository.tokens import TokenRejected, token_authenticate

KEYWORDS = ("token", "bearer")


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <secret>`` (or ``Bearer <secret>``): a personal API token."""

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, secret = header.strip().partition(" ")
        if keyword.lower() not in KEYWORDS:
            return None  # Basic etc.: not ours to judge
        secret = secret.strip()
        if not secret or " " in secret:
            raise exceptions.AuthenticationFailed(
                "malformed Authorization header: send 'Token <secret>' or 'Bearer <secret>'"
            )
        try:
            token = token_authenticate(secret)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        if token.scope == TokenScope.FACILITY_UPLOAD and token.facility_id is not None:
            access.confine_to_facility(token.user, token.facility_id)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated requests, telling clients what to send.
        return 'Token realm="api"'


def request_token(request: Request) -> ApiToken | None:
    """The API token this request was authenticated with, if any (None for a session)."""
    return request.auth if isinstance(request.auth, ApiToken) else None


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
        if token.scope == TokenScope.FACILITY_UPLOAD:
            return self._facility_upload_allows(request, token)
        if request.method in permissions.SAFE_METHODS:
            return True
        return token.scope == TokenScope.READ_WRITE

    def _facility_upload_allows(self, request: Request, token: ApiToken) -> bool:
        match = getattr(request, "resolver_match", None)
        allowed = FACILITY_UPLOAD_VIEWS.get(match.url_name or "", ()) if match else ()
        in_api = match is not None and "api" in match.namespaces
        if in_api and request.method in allowed:
            return True
        self.message = (
            f"this API token may only upload to {token.facility.name if token.facility else '?'} "
            "(scope 'facility_upload'): it cannot use this endpoint"
        )
        self.code = "token_facility_upload_only"
        return False


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Registers the token scheme in the OpenAPI document (Swagger UI's 'Authorize' button)."""

    target_class = "openem.api.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "A personal API token from your profile page (/accounts/profile/), sent as "
                "`Authorization: Bearer <secret>` or `Authorization: Token <secret>`. "
                "Tokens with the `read` scope may only use GET, HEAD and OPTIONS."
            ),
        }

"""API authentication with personal tokens (``Authorization: Token <secret>`` or
``Bearer <secret>``), next to the browser session; named in ``REST_FRAMEWORK`` in settings.

The token rules themselves (hashing, expiry, revocation) live in ``repository.tokens``; this
module only speaks HTTP. What a token's scope allows is ``openem.api.authentication``'s
``TokenScopePermission``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
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


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Registers the token scheme in the OpenAPI document (Swagger UI's 'Authorize' button)."""

    target_class = "repository.api.authentication.ApiTokenAuthentication"
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

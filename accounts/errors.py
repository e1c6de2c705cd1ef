"""The page a failed sign-in ends on: what went wrong in words, a way back, status 400 (or 502
when the provider cannot be reached). Nobody is logged in and no account is made."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)


def _jwt_reason(exception: BaseException) -> str | None:
    import jwt

    cause = exception.__cause__
    if isinstance(cause, jwt.ExpiredSignatureError):
        return "The provider's ID token has expired. Please sign in again."
    if isinstance(cause, jwt.InvalidIssuerError):
        return (
            "The ID token was issued by an unknown issuer, not by the provider this portal "
            "trusts. Nobody was signed in."
        )
    if isinstance(cause, jwt.InvalidAudienceError):
        return "The ID token was issued for another application. Nobody was signed in."
    if isinstance(cause, jwt.InvalidSignatureError | jwt.DecodeError):
        return "The ID token is not signed with the provider's key. Nobody was signed in."
    return None


def reason_for(error: Any, exception: BaseException | None, context: dict[str, Any]) -> str:
    from allauth.socialaccount.providers.base.constants import AuthError

    if exception is None and "state" not in context:
        return (
            "This sign-in answer does not belong to a sign-in started here (its state does "
            "not match, or it was used already). Please start again."
        )
    if error == AuthError.CANCELLED:
        return "The sign-in was cancelled at the provider."
    if exception is None:
        return "The provider did not sign you in (it answered with an error)."
    message = str(exception)
    if isinstance(exception, PermissionDenied):
        return "The sign-in answer was refused. Please start again."
    jwt_reason = _jwt_reason(exception)
    if jwt_reason:
        return jwt_reason
    if "access token" in message.lower():
        return (
            "The provider refused the sign-in code: it has expired or was used already. "
            "Please start again."
        )
    if "id_token" in message.lower() or "kid" in message.lower():
        return "The provider's ID token could not be verified. Nobody was signed in."
    return "The sign-in could not be completed. Please start again."


def login_failed(
    request: HttpRequest, reason: str, *, provider: str = "", status: int = 400
) -> HttpResponse:
    logger.warning("sign-in with %s failed: %s", provider or "a provider", reason)
    return render(
        request,
        "accounts/login_error.html",
        {"reason": reason, "provider_name": provider},
        status=status,
    )


def provider_unreachable(request: HttpRequest, provider_id: str) -> HttpResponse:
    return login_failed(
        request,
        "The sign-in provider cannot be reached right now. Please try again later.",
        provider=provider_id,
        status=502,
    )

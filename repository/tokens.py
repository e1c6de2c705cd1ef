"""Personal API tokens: creation, revocation and authentication (services and selectors).

Only the SHA-256 of a token is stored. The secret is returned once by :func:`token_create` and
cannot be recovered afterwards: a lost token is revoked and replaced, never shown again.
Secrets carry 256 bits of randomness, so a plain (unsalted) SHA-256 is enough to make a leaked
database useless to an attacker, and lets a request find its token by an indexed lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from openem.errors import DomainError, NotAllowed, ValidationFailed

from .models import ApiToken, Facility, TokenScope

SECRET_PREFIX = "oem_"  # noqa: S105 - a marker, not a secret (lets scanners spot leaked tokens)
PREFIX_LENGTH = 12  # ApiToken.prefix: "oem_" + 8 characters, enough to tell tokens apart
MAX_ACTIVE_TOKENS = 50
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)  # at most one write per token per minute


class TokenRejected(DomainError):
    """The presented token cannot authenticate a request (unknown, revoked, expired)."""

    code = "authentication_failed"
    status = 401


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tokens_of(*, user: Any) -> QuerySet[ApiToken]:
    """The user's tokens, newest first, revoked ones included (the profile page shows them)."""
    return (
        ApiToken.objects.filter(user_id=user.pk)
        .select_related("facility")
        .order_by("-created", "-pk")
    )


@transaction.atomic
def token_create(
    *,
    user: Any,
    name: str,
    scope: str = TokenScope.READ,
    expires_at: dt.datetime | None = None,
    facility: Facility | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with its secret, which is never stored.

    A ``facility_upload`` token names the one ``facility`` it may upload to, where ``user``
    must be allowed to upload (a service account for ``openem watch``)."""
    if not (user is not None and user.is_authenticated and user.is_active):
        raise NotAllowed("log in to create API tokens")
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed("give the token a name that says what it is for")
    if len(name) > 100:
        raise ValidationFailed("the token name is longer than 100 characters")
    if scope not in TokenScope.values:
        raise ValidationFailed(f"scope must be one of {', '.join(TokenScope.values)}")
    if scope == TokenScope.FACILITY_UPLOAD:
        from . import access

        if facility is None:
            raise ValidationFailed("a 'facility_upload' token needs the facility it uploads to")
        if not access.can_create_dataset(user, facility):
            raise NotAllowed(
                f"you are not staff of {facility.name}, so a token of yours cannot upload there"
            )
    elif facility is not None:
        raise ValidationFailed("only 'facility_upload' tokens are bound to a facility")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("the expiry date must be in the future")
    active = ApiToken.objects.filter(user_id=user.pk, revoked_at__isnull=True).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    )
    if active.count() >= MAX_ACTIVE_TOKENS:  # a soft limit: a race may pass it by one
        raise ValidationFailed(
            f"you already have {MAX_ACTIVE_TOKENS} active tokens; revoke some you no longer use"
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        token_hash=token_hash(secret),
        scope=scope,
        facility=facility,
        expires_at=expires_at,
    )
    return token, secret


def token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    """Revoke a token (its owner or a site admin). Revoking twice keeps the first date."""
    is_admin = bool(getattr(actor, "is_superuser", False) and actor.is_active)
    if not (getattr(actor, "is_authenticated", False) and (actor.pk == token.user_id or is_admin)):
        raise NotAllowed("you can only revoke your own tokens")
    if token.revoked_at is None:
        now = timezone.now()
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        token.refresh_from_db(fields=["revoked_at"])
    return token


def token_authenticate(secret: str) -> ApiToken:
    """The usable token matching ``secret`` (with its user loaded), or :class:`TokenRejected`
    with a message saying what to do."""
    secret = (secret or "").strip()
    if not secret:
        raise TokenRejected("the API token is empty")
    presented = token_hash(secret)
    token = ApiToken.objects.select_related("user", "facility").filter(token_hash=presented).first()
    # The index lookup finds the row; the secret's hash is then compared in constant time, so
    # that how long a refusal takes tells nothing about how much of a guess was right.
    if token is None or not hmac.compare_digest(token.token_hash, presented):
        raise TokenRejected(
            "this API token is not known; check that it was copied completely, "
            "or create a new one on your profile page"
        )
    now = timezone.now()
    if token.revoked_at is not None:
        raise TokenRejected(
            f"the API token {token.prefix}... was revoked on {token.revoked_at:%Y-%m-%d}; "
            "create a new one on your profile page"
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRejected(
            f"the API token {token.prefix}... expired on {token.expires_at:%Y-%m-%d %H:%M %Z}; "
            "create a new one on your profile page"
        )
    if not token.user.is_active:
        raise TokenRejected("the account this API token belongs to is disabled")
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token

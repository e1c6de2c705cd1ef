"""Request throttling: per anonymous IP, per user, higher for facility staff, per scope for
expensive endpoints (``throttle_scope = "manifests"`` on a view), and a budget of its own for the
per-file upload endpoints (:class:`UploadThrottle`), where a session of many small files makes
a few requests per file.

Rates come from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (set from the environment in
settings: ``OPENEM_API_THROTTLE_*``) and are read at request time, not at import time as DRF's
own classes do, so that a changed setting takes effect without re-importing the views.
The history is kept in the default cache: Redis on the full stack, so that all gunicorn
workers share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

ANON_SCOPE = "anon"
USER_SCOPE = "user"
FACILITY_STAFF_SCOPE = "facility_staff"
MANIFESTS_SCOPE = "manifests"
UPLOADS_SCOPE = "uploads"


def _rate(scope: str) -> str | None:
    """The configured rate of ``scope``; ``None`` (configured as ``off``) means no limit."""
    rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES or {}
    if scope not in rates:
        raise ImproperlyConfigured(f"no throttle rate for the scope {scope!r} in settings")
    rate = rates[scope]
    return None if rate is None else str(rate)


class AnonThrottle(throttling.AnonRateThrottle):
    """Anonymous requests, per client IP."""

    scope = ANON_SCOPE

    def get_rate(self) -> str | None:
        return _rate(self.scope)


class UserThrottle(throttling.UserRateThrottle):
    """Authenticated requests, per user; facility staff and curators (whose pipelines move
    whole sessions) and site admins get the ``facility_staff`` rate."""

    scope = USER_SCOPE

    def __init__(self) -> None:
        # The rate depends on the request's user: chosen in allow_request.
        pass

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True  # AnonThrottle's business
        return self._allow(request, view, FACILITY_STAFF_SCOPE if _is_staff(user) else USER_SCOPE)

    def _allow(self, request: Request, view: Any, scope: str) -> bool:
        self.scope = scope  # also names the request history in the cache
        self.rate = _rate(scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


#: Who gets the ``facility_staff`` and ``uploads`` rates besides site admins: the app that
#: knows the facilities registers its check (``repository``, in its ``AppConfig.ready``).
_staff_checks: list[Callable[[Any], bool]] = []


def register_staff_check(check: Callable[[Any], bool]) -> None:
    """Let ``check(user)`` say whether an authenticated user uploads for a facility."""
    if check not in _staff_checks:
        _staff_checks.append(check)


def _is_staff(user: Any) -> bool:
    """Staff and curators of a facility, and site admins: the people who upload."""
    return bool(user.is_superuser) or any(check(user) for check in _staff_checks)


class UploadThrottle(UserThrottle):
    """The per-file upload endpoints (registration, multipart start/parts/complete, chunks).

    An upload session of 10,000 small files makes two or three requests per file; at the
    ``facility_staff`` rate it would wait for minutes on throttling alone. Uploaders get the
    ``uploads`` rate here, counted apart from their other requests; anyone else keeps the
    ``user`` rate (and the ordinary count), so these endpoints are no way around throttling.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return True  # AnonThrottle's business
        return self._allow(request, view, UPLOADS_SCOPE if _is_staff(user) else USER_SCOPE)


UPLOAD_THROTTLES = [AnonThrottle, UploadThrottle]


class ScopedThrottle(throttling.ScopedRateThrottle):
    """Per user (or IP) and per ``throttle_scope`` of the view; views without one are free."""

    def get_rate(self) -> str | None:
        return None if self.scope is None else _rate(self.scope)

"""The one place where errors become API responses, all in one JSON shape::

    {"error": {"code": "not_found", "message": "a sentence for a person", "details": ...}}

``code`` is stable and meant for programs; ``message`` is meant for people; ``details`` is
``null`` or structured data (per-field messages for invalid input, ``retry_after`` ...).

:func:`api_exception_handler` is DRF's ``EXCEPTION_HANDLER``: it maps DRF's exceptions, our
:class:`~openem.errors.DomainError` hierarchy, Django's ``Http404``/``PermissionDenied`` and
errors that carry their own answer (:class:`MappedError`: storage errors, which live below
the API and so cannot import it). :func:`page_not_found` and :func:`server_error` are the site's ``handler404`` /
``handler500``: under ``/api/`` they answer in the same shape (an unknown URL, or a crash outside
a DRF view), elsewhere they defer to Django's HTML pages. No response ever carries a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from openem.errors import DomainError

logger = logging.getLogger("openem.api")

API_PATH_PREFIX = "/api/"

# DRF's own codes, renamed where ours says the same thing differently.
_CODE_ALIASES = {"invalid": "validation_failed", "error": "validation_failed"}


@runtime_checkable
class MappedError(Protocol):
    """An exception of a lower layer that says how the API answers it, so this module needs
    not import that layer (storage errors implement it: :class:`storage.base.StorageError`).
    ``api_message`` is shown to the client; ``str(exc)`` is only logged."""

    api_status: int
    api_code: str
    api_message: str
    api_log_level: str  # "error" | "warning"


#: The longest text an error repeats: a message that echoes what was sent (a 100 kB "choice",
#: an identifier) keeps its start and its end, not the whole value.
MAX_ERROR_TEXT = 1000


def _clipped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_ERROR_TEXT:
        return f"{value[: MAX_ERROR_TEXT - 250]} [...] {value[-200:]}"
    if isinstance(value, dict):
        return {key: _clipped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clipped(item) for item in value]
    return value


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": _clipped(message), "details": _clipped(details)}}


def _flatten(detail: Any, path: str = "") -> list[str]:
    """Readable 'field: message' lines out of DRF's nested error details."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            label = path if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            lines.extend(_flatten(value, label))
        return lines
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [f"{path}: {item}" if path else str(item) for item in detail]
        lines = []
        for index, item in enumerate(detail):
            lines.extend(_flatten(item, f"{path}[{index}]"))
        return lines
    return [f"{path}: {detail}" if path else str(detail)]


def _plain(detail: Any) -> Any:
    """ErrorDetail objects as plain JSON (strings, lists, dicts)."""
    if isinstance(detail, dict):
        return {str(key): _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(item) for item in detail]
    return str(detail)


def _drf_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, exceptions.ValidationError):
        lines = _flatten(exc.detail)
        message = "the request is invalid: " + "; ".join(lines) if lines else "invalid request"
        return error_body("validation_failed", message, _plain(exc.detail))
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    details: Any = None
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        details = {"retry_after": math.ceil(wait)}
    message = str(detail)
    if isinstance(detail, dict | list):
        message = "; ".join(_flatten(detail)) or str(exc.default_detail)
        details = _plain(detail)
    return error_body(_CODE_ALIASES.get(str(code), str(code)), message, details)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every error of every API view, in the one shape."""
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, MappedError):
        level = logging.ERROR if exc.api_log_level == "error" else logging.WARNING
        logger.log(level, "%s in the API: %s", type(exc).__name__, exc)
        return Response(error_body(exc.api_code, exc.api_message), status=exc.api_status)
    if isinstance(exc, RequestDataTooBig):
        # Django's parsers refuse form bodies above DATA_UPLOAD_MAX_MEMORY_SIZE.
        return Response(
            error_body(
                "request_too_large",
                f"the request body is larger than the {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} "
                "bytes the API reads at once",
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, TooManyFieldsSent):
        exc = exceptions.ParseError(
            f"the form has too many fields (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}); "
            "send a JSON body instead"
        )
    elif isinstance(exc, SuspiciousOperation):  # too many files in a form, ...
        exc = exceptions.ParseError(f"the request cannot be read: {exc}")
    if isinstance(exc, Http404):
        message = str(exc) or "not found"
        exc = exceptions.NotFound(message[:1].lower() + message[1:])
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate and Retry-After
    if response is None:
        logger.exception("unhandled error in an API view", exc_info=exc)
        return Response(
            error_body("server_error", "something went wrong on our side; it has been logged"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    assert isinstance(exc, exceptions.APIException)
    response.data = _drf_body(exc)
    return response


def _reason(exception: Exception | None) -> str:
    """The sentence our own code gave the exception (``Http404("No dataset ...")``); not the
    resolver's internals for a URL that matches nothing."""
    if exception is None or exception.__class__.__name__ == "Resolver404":
        return ""
    text = str(exception.args[0]) if exception.args and isinstance(exception.args[0], str) else ""
    return text


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: JSON under /api/, the portal's branded page elsewhere."""
    if request.path.startswith(API_PATH_PREFIX):
        return JsonResponse(
            error_body("not_found", f"there is no API endpoint at {request.path}"),
            status=status.HTTP_404_NOT_FOUND,
        )
    return render(
        request,
        "errors/404.html",
        {"reason": _reason(exception), "path": request.path},
        status=status.HTTP_404_NOT_FOUND,
    )


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler403``: the reason, and a way back (sign in, or the dataset list)."""
    reason = _reason(exception) or "You may not open this page."
    if request.path.startswith(API_PATH_PREFIX):
        return JsonResponse(
            error_body("permission_denied", reason), status=status.HTTP_403_FORBIDDEN
        )
    return render(
        request,
        "errors/403.html",
        {"reason": reason, "path": request.get_full_path()},
        status=status.HTTP_403_FORBIDDEN,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON under /api/, the branded page elsewhere, rendered without the
    request's context (the database may be what failed). Django has logged the error."""
    if request.path.startswith(API_PATH_PREFIX):
        return JsonResponse(
            error_body("server_error", "something went wrong on our side; it has been logged"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    try:
        body = loader.get_template("errors/500.html").render({})
    except Exception:  # noqa: BLE001 - the error page itself must not fail
        return defaults.server_error(request)
    return HttpResponse(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


# --- The error shape, for the OpenAPI schema ----------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer[Any]):
    code = serializers.CharField(
        help_text="Stable, for programs: validation_failed, not_authenticated, "
        "authentication_failed, permission_denied, not_found, method_not_allowed, conflict, "
        "throttled, server_error, ..."
    )
    message = serializers.CharField(help_text="A sentence for a person.")
    details = serializers.JSONField(
        allow_null=True,
        help_text="null, or structured data: per-field messages for invalid input, "
        "retry_after (seconds) when throttled, ...",
    )


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorDetailSerializer()


_ERROR_DESCRIPTIONS = {
    400: "Invalid input (code validation_failed, per-field messages in details).",
    401: "Not authenticated, or the API token is unknown, revoked or expired.",
    403: "Not allowed (a read-scope token used to write, not a curator, ...).",
    404: "No such object, or not visible to you.",
    409: "The request conflicts with the object's state.",
    410: "Withdrawn: the message gives the reason (the citation metadata stays).",
    413: "The request body is too large (forms; send large lists as JSON).",
    415: "The request body is in a media type this endpoint does not read (see Content-Type).",
    429: "Too many requests: wait details.retry_after seconds (also the Retry-After header).",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``@extend_schema(responses=...)``, all in the one shape."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in statuses
    }

"""The errors a request or transfer raises (their ``str()`` is meant for a person), and
the retry policy."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests


class OpenEMError(Exception):
    """A request that failed, with a message for a person (the server's when it sent one)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details


class AuthError(OpenEMError):
    """Authentication or authorisation failed (401 or 403)."""


class AuthenticationError(AuthError):
    """401: no token, or the token is unknown, revoked or expired."""


class PermissionDenied(AuthError):
    """403: authenticated, but not allowed (a read-only token, not staff of the facility...)."""


class NotFound(OpenEMError):
    """404: no such object, or it is not visible to you."""


class ValidationError(OpenEMError):
    """400/422: the server refused the input; ``details`` says what, often per item."""


class Conflict(OpenEMError):
    """409: the request conflicts with the object's state (published, already uploaded...)."""


class Throttled(OpenEMError):
    """429 still, after waiting as the server asked."""


class ServerError(OpenEMError):
    """5xx still, after the retries."""


class NetworkError(OpenEMError):
    """The server could not be reached (connection refused, DNS, timeouts), after the retries."""


class TransferError(OpenEMError):
    """Bytes could not be sent to or fetched from storage, after the retries."""


class ChecksumMismatch(OpenEMError):
    """A downloaded file's SHA-256 differs from the manifest's."""


class IncompatibleClient(OpenEMError):
    """The portal needs a newer client (or speaks another API major version)."""


class TransferStopped(OpenEMError):
    """The transfer was stopped on purpose (``stop_after_parts``, or an interruption)."""


_STATUS_ERRORS: dict[int, type[OpenEMError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: ValidationError,
    429: Throttled,
}


def error_from_response(response: requests.Response) -> OpenEMError:
    """The exception for an error response, carrying the server's ``{"error": {...}}``."""
    code = None
    details = None
    message = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code")
        message = str(error.get("message") or "")
        details = error.get("details")
    if not message:
        reason = response.reason or "error"
        message = f"the server answered {response.status_code} {reason} for {_short(response.url)}"
    kind = _STATUS_ERRORS.get(response.status_code)
    if kind is None:
        kind = ServerError if response.status_code >= 500 else OpenEMError
    return kind(message, status=response.status_code, code=code, details=details)


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


# --- Retries --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: ``backoff * 2**(attempt-1)``, at most ``max_delay``."""

    attempts: int = 5
    backoff: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after:
            wait_for = _retry_after_seconds(retry_after)
            if wait_for is not None:
                return min(wait_for, self.max_delay * 4)
        base = min(self.max_delay, self.backoff * 2 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not security


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _tried(attempts: int) -> str:
    return {1: "tried once", 2: "tried twice"}.get(attempts, f"tried {attempts} times")


_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def _network_reason(exc: Exception) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off during the transfer"
    text = str(exc)
    if "Connection refused" in text or "NewConnectionError" in text:
        return "the connection was refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name is not known"
    return "the connection failed"

"""Domain errors shared by all apps. Services raise them; one handler per surface maps them to
HTTP (API: ``openem.api.exception_handler``; pages: messages/forms), so a user always gets a
clear message and never a traceback."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request that cannot be carried out, with a message meant for the user."""

    code = "invalid"
    status = 400

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    code = "validation_failed"


class NotAllowed(DomainError):
    code = "permission_denied"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class Gone(DomainError):
    """It existed and was withdrawn: the reason is in the message."""

    code = "gone"
    status = 410

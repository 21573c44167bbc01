"""The domain error tree, free of HTTP; app.py maps it to status codes in one table."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base: a machine code, a human message, and optional details."""

    code = "error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class BadRequest(DomainError):
    code = "bad_request"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    """Also used for objects the caller may not see: their existence is not revealed."""

    code = "not_found"


class Conflict(DomainError):
    """State or version changed under the caller: another actor won, or a retry is in flight."""

    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unprocessable(DomainError):
    """Well-formed but unacceptable: unknown event type, point outside the city, key reuse."""

    code = "unprocessable"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class UnsupportedMedia(DomainError):
    code = "unsupported_media"


class Unavailable(DomainError):
    """A dependency (database) is away; the client should retry later."""

    code = "unavailable"

"""Domain errors: what went wrong, in the platform's terms, with the field at fault.

Every layer raises these; the HTTP layer maps each class to a status code once
(`api/http/errors.py`), bundle loading turns them into a line naming the bundle file,
and the controllers tell `Permanent` (fail the cluster now) from `Temporary` (retry on a
later pass). Nothing below the HTTP layer knows a status code.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class; `field` names the input at fault (an option, a template path...)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(DomainError):
    """The input is wrong: a value out of bounds, a template that does not render."""


class TooLarge(Invalid):
    """The input is bigger than the platform accepts."""


class NotFound(DomainError):
    """No such object, or one the caller may not know of."""


class Unauthenticated(DomainError):
    """No valid token came with the request."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class QuotaExceeded(Forbidden):
    """The request would take the user past one of their quotas (`field` names it)."""


class Conflict(DomainError):
    """The object is not in a state that allows this now (busy, exists, in use)."""


class Permanent(DomainError):
    """A failure retrying will not cure (an image that does not build)."""


class Unreachable(DomainError):
    """A node does not answer on a port the platform relays to (the proxy, a tunnel)."""


class Temporary(DomainError):
    """A failure that may pass (the engine not answering, too many requests at once)."""

    def __init__(self, message: str, field: str | None = None, retry_after: int = 10):
        super().__init__(message, field)
        self.retry_after = retry_after


MAX_ID = 2**63 - 1  # the largest id a database column holds


def parse_id(value, what: str) -> int:
    """A numeric id from a URL: ASCII digits only (`str.isdigit` also takes '¹' and
    Arabic-Indic digits); anything else, or too large to exist, is not found."""
    text = str(value)
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or int(text) > MAX_ID:
        raise NotFound(f"no {what}{text}")
    return int(text)

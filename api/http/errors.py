"""One error shape for every failure: `{"status", "error", "message"[, "field"]}`.

`install(app)` maps the domain errors (`api/core/errors.py`) to their status codes in
one table, and turns falcon's own HTTP errors and (as a last resort) unexpected
exceptions into the same shape, so a client never sees an HTML page or a traceback.
`APIError` is for what only HTTP knows (401, 413, 415).
"""
from __future__ import annotations

import logging

import falcon

from api.core import errors as domain

log = logging.getLogger("bdp.api")

# Most specific first: the first class an error is an instance of decides.
STATUS_OF = [
    (domain.TooLarge, 413, "Payload Too Large"),
    (domain.QuotaExceeded, 403, "Quota Exceeded"),
    (domain.Invalid, 400, "Bad Request"),
    (domain.NotFound, 404, "Not Found"),
    (domain.Unauthenticated, 401, "Unauthorized"),
    (domain.Forbidden, 403, "Forbidden"),
    (domain.Conflict, 409, "Conflict"),
    (domain.Permanent, 422, "Unprocessable Entity"),
    (domain.Unreachable, 502, "Bad Gateway"),
    (domain.Temporary, 503, "Service Unavailable"),
]


class APIError(Exception):
    """An HTTP-only failure, raised by the HTTP layer itself."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict:
        out = {"status": self.status, "error": self.error, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


def from_domain(exc: domain.DomainError) -> APIError:
    for cls, status, title in STATUS_OF:
        if isinstance(exc, cls):
            headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, domain.Temporary) else (
                {"WWW-Authenticate": "Bearer"} if isinstance(exc, domain.Unauthenticated) else {})
            return APIError(status, title, exc.message, field=exc.field, headers=headers)
    return APIError(400, "Bad Request", exc.message, field=exc.field)


def unauthorized(message: str) -> APIError:
    return APIError(401, "Unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def _respond(resp: falcon.Response, err: APIError) -> None:
    resp.status = falcon.code_to_http_status(err.status)
    resp.media = err.body()
    for key, value in err.headers.items():
        resp.set_header(key, value)


def _api_error(req, resp, ex: APIError, params) -> None:
    _respond(resp, ex)


def _domain_error(req, resp, ex: domain.DomainError, params) -> None:
    _respond(resp, from_domain(ex))


def _http_error(req, resp, ex: falcon.HTTPError, params) -> None:
    status = falcon.http_status_to_code(ex.status)
    # The reason phrase alone ("Not Found"): falcon's own titles repeat the code.
    title = falcon.code_to_http_status(status).split(" ", 1)[-1]
    message = ex.description or title
    if isinstance(ex, falcon.MediaMalformedError):
        message = "the request body is not valid JSON" + (
            f": {ex.__cause__}" if ex.__cause__ else "")
    elif status == 404 and not ex.description:
        message = f"no resource at {req.path}"
    elif status == 405 and not ex.description:
        message = f"{req.method} is not allowed on {req.path}"
    headers = dict(ex.headers or {})
    _respond(resp, APIError(status, title, message, headers=headers))


def _unexpected(req, resp, ex: Exception, params) -> None:
    # A genuine bug: keep the traceback in the log, tell the client only that it happened.
    log.exception("unhandled error on %s %s", req.method, req.path)
    _respond(resp, APIError(500, "Internal Server Error",
                            "the server hit an unexpected error; it has been logged"))


def install(app: falcon.App) -> None:
    # Falcon picks the most specific handler, so order does not matter here.
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_error_handler(APIError, _api_error)
    app.add_error_handler(domain.DomainError, _domain_error)

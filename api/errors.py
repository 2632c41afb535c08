"""One error shape for every failure: `{"status", "error", "message"[, "field"]}`.

Handlers installed by `install(app)` turn our APIError, falcon's own HTTP errors and
(as a last resort) unexpected exceptions into that shape, so a client never sees an
HTML page or a bare traceback.
"""
from __future__ import annotations

import logging

import falcon

log = logging.getLogger("bdp.api")


class APIError(Exception):
    """Raise anywhere in a request to answer with a JSON error."""

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


def bad_request(message: str, field: str | None = None) -> APIError:
    return APIError(400, "Bad Request", message, field=field)


def not_found(message: str) -> APIError:
    return APIError(404, "Not Found", message)


MAX_ID = 2**63 - 1  # the largest id a database column holds


def parse_id(value, what: str) -> int:
    """A numeric id from a URL; anything else (or too large to exist) is a 404."""
    text = str(value)
    if not text.isdigit() or int(text) > MAX_ID:
        raise not_found(f"no {what}{text}")
    return int(text)


def conflict(message: str, field: str | None = None) -> APIError:
    return APIError(409, "Conflict", message, field=field)


def _respond(resp: falcon.Response, err: APIError) -> None:
    resp.status = falcon.code_to_http_status(err.status)
    resp.media = err.body()
    for key, value in err.headers.items():
        resp.set_header(key, value)


def _api_error(req, resp, ex: APIError, params) -> None:
    _respond(resp, ex)


def _http_error(req, resp, ex: falcon.HTTPError, params) -> None:
    status = falcon.http_status_to_code(ex.status)
    title = ex.title or falcon.code_to_http_status(status).split(" ", 1)[-1]
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

"""The middleware that authenticates every API request, and the falcon hooks that
refuse a request before its body is read (admin-only routes, a user's own resources)."""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

import falcon

from api.core.auth import ADMIN_NAME, check_admin, check_self_or_admin, token_for
from api.core.errors import Invalid, Unauthenticated
from api.core.models import User


def check_url_text(env) -> None:
    """The path and the query string must be UTF-8 text: falcon would quietly turn
    invalid bytes (such as an encoded lone surrogate) into U+FFFD."""
    path = env.get("PATH_INFO", "")
    query = env.get("QUERY_STRING", "")
    for what, raw in (("path", path.encode("latin-1", "replace")),
                      ("query", unquote_to_bytes(query.replace("+", " ")))):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Invalid(f"the {what} is not valid UTF-8 text (byte {e.start} of it, once "
                          "percent-decoded)", field=what) from None


def token_from(req) -> str | None:
    token = req.get_header("x-auth-token")
    if token:
        return token.strip()
    header = req.get_header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


class AuthMiddleware:
    """Authenticates every request routed to a resource that is not marked `public`.

    Deciding by the matched resource rather than by the path means no spelling of a
    path (`//bigdata/...`, `/bigdata/api/v1/../...`) can reach the API unauthenticated.
    """

    def __init__(self, settings):
        self.no_auth = settings.no_auth

    def process_request(self, req, resp) -> None:
        req.context.user = None
        req.context.token = None
        check_url_text(req.env)

    def process_resource(self, req, resp, resource, params) -> None:
        if resource is None or getattr(resource, "public", False) or req.method == "OPTIONS":
            return
        if self.no_auth:
            # Local trials only: every caller is the admin.
            req.context.user = User.get(User.name == ADMIN_NAME)
            return
        token = token_from(req)
        if not token:
            raise Unauthenticated("authentication required: send the header "
                                  "'x-auth-token: <token>' or 'Authorization: Bearer <token>'")
        row = token_for(token)
        req.context.user, req.context.token = row.user, row


def require_admin(req) -> User:
    return check_admin(req.context.user)


def require_self_or_admin(req, name: str) -> User:
    return check_self_or_admin(req.context.user, name)


def admin_hook(req, resp, resource, params) -> None:
    """`@falcon.before(admin_hook)`: refuse before the body is even validated."""
    require_admin(req)


def body_required_hook(req, resp, resource, params) -> None:
    """`@falcon.before(body_required_hook)`: an empty body is a 400, not `{}` (which
    would, say, replace a product's options with none)."""
    try:
        req.get_media()
    except falcon.MediaNotFoundError:
        raise Invalid("the request body is empty; send a JSON object", field="body") from None


def self_or_admin_hook(req, resp, resource, params) -> None:
    """`@falcon.before(self_or_admin_hook)` on routes with a {name} user parameter;
    the name `me` stands for the caller."""
    if params.get("name") == "me" and req.context.user is not None:
        params["name"] = req.context.user.name
    require_self_or_admin(req, params["name"])

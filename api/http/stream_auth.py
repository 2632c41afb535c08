"""Who is following a stream: the token headers of every request, or, for the console
(a browser's EventSource cannot set headers), a short-lived signed cookie.

`POST /session` (authenticated by the token as usual) sets `bdp_stream`: the token's id
and an expiry, signed with HMAC-SHA256 under a key kept in the registry (so every process
of a split control plane accepts it). It is HttpOnly and SameSite=Strict, scoped to the
API's paths, lives at most an hour and never longer than its token, and it names the
token, so revoking the token ends it. It never carries the token itself, and the token
never goes in a URL (URLs end up in logs). `DELETE /session` clears it.

The same value is set a second time as `bdp_proxy`, scoped to the proxy's paths
(api/http/proxy.py), so the console's links to a cluster's web UIs open signed in; each
cookie is accepted only on its own paths.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from http.cookies import SimpleCookie

import falcon
from spectree import Response

from api.core.auth import ADMIN_NAME, token_for
from api.core.config import API_PREFIX, PROXY_PREFIX
from api.core.errors import Unauthenticated
from api.core.models import State, Token, User, utcnow
from api.http.openapi import validate
from api.http.schemas import StreamSession

COOKIE = "bdp_stream"
COOKIE_PATH = API_PREFIX  # the streams are under /clusters and /events
PROXY_COOKIE = "bdp_proxy"
PROXY_COOKIE_PATH = PROXY_PREFIX
LIFETIME = dt.timedelta(hours=1)
_KEY_NAME = "stream_cookie_key"
_key: bytes | None = None


def _signing_key() -> bytes:
    global _key
    if _key is None:
        State.insert(key=_KEY_NAME, value=secrets.token_hex(32)).on_conflict_ignore().execute()
        _key = bytes.fromhex(State.get(State.key == _KEY_NAME).value)
    return _key


def _mac(payload: str) -> str:
    digest = hmac.new(_signing_key(), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def sign(token: Token) -> tuple[str, dt.datetime]:
    expires = utcnow() + LIFETIME
    if token.expires is not None and token.expires < expires:
        expires = token.expires
    payload = f"{token.id}.{int(expires.replace(tzinfo=dt.timezone.utc).timestamp())}"
    return f"{payload}.{_mac(payload)}", expires


def verify(value: str) -> Token:
    """The token a cookie stands for, while the cookie and the token are both valid."""
    token_id, _, rest = value.partition(".")
    until, _, mac = rest.partition(".")
    if not (token_id.isdigit() and until.isdigit()) or not hmac.compare_digest(
            mac, _mac(f"{token_id}.{until}")):
        raise Unauthenticated("the stream cookie is not valid; sign in again")
    if int(until) < utcnow().replace(tzinfo=dt.timezone.utc).timestamp():
        raise Unauthenticated("the stream cookie has expired; sign in again")
    row = Token.select(Token, User).join(User).where(Token.id == int(token_id)).first()
    if row is None or (row.expires is not None and row.expires < utcnow()):
        raise Unauthenticated("the token behind the stream cookie is revoked or expired")
    return row


def authenticator(settings, cookie: str = COOKIE):
    """(request headers) -> User, for a native handler (run in a thread); `cookie` is
    the one cookie that handler accepts besides the token headers."""
    def authenticate(headers: dict) -> User:
        if settings.no_auth:
            return User.get(User.name == ADMIN_NAME)
        token = headers.get("x-auth-token", "").strip()
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if not token and scheme.lower() == "bearer":
            token = value.strip()
        if token:
            return token_for(token).user
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed Cookie header is no credential
            jar = SimpleCookie()
        if cookie in jar:
            return verify(jar[cookie].value).user
        raise Unauthenticated("authentication required: send 'x-auth-token: <token>', "
                              "'Authorization: Bearer <token>', or sign in to the console")
    return authenticate


class SessionResource:
    @validate(resp=Response(HTTP_200=StreamSession))
    def on_post(self, req, resp):
        """Set the console's stream cookie (for EventSource, which cannot send headers)."""
        if req.context.token is None:  # auth is off (--no-auth): streams need no cookie
            resp.media = {"user": req.context.user.name, "expires": None}
            return
        value, expires = sign(req.context.token)
        for name, path in ((COOKIE, COOKIE_PATH), (PROXY_COOKIE, PROXY_COOKIE_PATH)):
            resp.set_cookie(name, value, expires=expires, path=path, http_only=True,
                            same_site="Strict", secure=req.scheme == "https")
        resp.media = {"user": req.context.user.name, "expires": expires.isoformat()}

    @validate(resp=Response("HTTP_204"))
    def on_delete(self, req, resp):
        """Clear the stream cookie (sign-out)."""
        resp.unset_cookie(COOKIE, path=COOKIE_PATH)
        resp.unset_cookie(PROXY_COOKIE, path=PROXY_COOKIE_PATH)
        resp.status = falcon.HTTP_204


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/session", SessionResource())

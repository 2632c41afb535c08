"""Tokens, roles and the middleware that authenticates every API request.

Tokens are random strings handed out once; the registry keeps only their sha256
digest. Roles: `admin` (products, networks, hosts, users; every cluster) and `user`
(their own clusters).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import secrets
import time

from api.core.compiled import Compiled
from api.core.errors import Forbidden, Unauthenticated
from api.core.models import Token, User, db, utcnow

log = logging.getLogger("bdp.auth")

ROLES = ("admin", "user")
ADMIN_NAME = "admin"
BOOTSTRAP_TOKEN_NAME = "bootstrap"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_token(user: User, name: str = "", expires_days: float | None = None,
                 token: str | None = None, not_after: dt.datetime | None = None) -> tuple[str, Token]:
    """Store a new token for `user`; returns the clear token (shown once) and its row.

    `not_after` is the expiry of the token that asked for this one: a token never
    outlives the token that created it (else a stolen short-lived token could mint a
    permanent one), so the new expiry is capped there, and a token asked without an
    expiry gets it."""
    token = token or new_token()
    expires = utcnow() + dt.timedelta(days=expires_days) if expires_days else None
    if not_after is not None and (expires is None or expires > not_after):
        expires = not_after
    row = Token.create(user=user, digest=hash_token(token), name=name, expires=expires)
    return token, row


def add_user(name: str, admin: bool = False) -> User:
    return User.create(name=name, role="admin" if admin else "user")


def bootstrap_admin(settings) -> str | None:
    """Make sure the admin user and its first token exist.

    The first token is BDP_ADMIN_TOKEN when set, otherwise a generated one, which is
    written to DATA_DIR/admin.token (0600) and returned so the caller can print it
    once. Later starts change nothing (an admin may have revoked the first token).
    """
    with db.atomic():
        admin, _ = User.get_or_create(name=ADMIN_NAME, defaults={"role": "admin"})
        if Token.select().where((Token.user == admin) & (Token.name == BOOTSTRAP_TOKEN_NAME)).exists():
            return None
        if settings.admin_token:
            create_token(admin, BOOTSTRAP_TOKEN_NAME, token=settings.admin_token)
            return None
        token, _ = create_token(admin, BOOTSTRAP_TOKEN_NAME)
    path = settings.data_dir / "admin.token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


# Tokens looked up in the last few seconds, by digest: every request authenticates, and
# most come from a few tokens. A token revoked here is forgotten at once; one revoked by
# another process of a split control plane stops working within CACHE_SECONDS.
CACHE_SECONDS = 5.0
CACHE_SIZE = 10000
_cache: dict[str, tuple[float, object, Token]] = {}  # digest -> (when, database, row)
_FIND = Compiled(lambda d: Token.select(Token, User).join(User).where(Token.digest == d).limit(1),
                 "\0digest")


def forget_tokens() -> None:
    """Drop the cache (a token or user was removed)."""
    _cache.clear()


def token_for(token: str) -> Token:
    """The stored token (with its user) a clear token stands for, if valid and unexpired."""
    digest = hash_token(token)
    now = time.monotonic()
    hit = _cache.get(digest)
    if hit is not None and now - hit[0] < CACHE_SECONDS and hit[1] is db.obj:
        row = hit[2]
    else:
        row = _FIND.first(digest)
        if row is not None:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()
            _cache[digest] = (now, db.obj, row)
    if row is None:
        raise Unauthenticated("the token is not valid")
    if row.expires is not None and row.expires < utcnow():
        raise Unauthenticated("the token has expired; ask for a new one (bdp tokens create)")
    return row


def user_for_token(token: str) -> User:
    return token_for(token).user


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == "admin"


def sees_cluster(user: User | None, dn: str) -> bool:
    """Whether `user` may know of the cluster `dn` (clusters/<user>/...)."""
    return is_admin(user) or (user is not None and dn.startswith(f"clusters/{user.name}/"))


def check_admin(user: User | None) -> User:
    if not is_admin(user):
        raise Forbidden("this needs the admin role")
    return user


def check_self_or_admin(user: User | None, name: str) -> User:
    if not (is_admin(user) or (user is not None and user.name == name)):
        raise Forbidden(f"only {name} or an admin may do this")
    return user

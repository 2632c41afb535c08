"""/users: accounts (admin), tokens (self or admin) and SSH public keys."""
from __future__ import annotations

import falcon
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from peewee import IntegrityError
from spectree import Response

from api.core.auth import create_token, forget_tokens
from api.core.config import API_PREFIX
from api.core.errors import Conflict, Invalid, NotFound, parse_id
from api.core.models import Token, User, db
from api.http.middleware import admin_hook, self_or_admin_hook
from api.http.openapi import validate
from api.http.pagination import paginate
from api.http.schemas import (
    SSHKeyList,
    SSHKeys,
    TokenCreate,
    TokenCreated,
    TokenList,
    UserCreate,
    UserList,
    UserView,
)

MAX_KEYS = 50


def user_view(u: User) -> dict:
    return {"name": u.name, "role": u.role, "ssh_keys": u.ssh_keys, "created": u.created.isoformat()}


def token_view(t: Token) -> dict:
    return {"id": t.id, "name": t.name, "expires": t.expires.isoformat() if t.expires else None,
            "created": t.created.isoformat()}


def get_user(name: str) -> User:
    user = User.get_or_none(User.name == name)
    if user is None:
        raise NotFound(f"no user {name}")
    return user


def check_ssh_key(key, index: int) -> str:
    field = f"ssh_keys.{index}"
    if not isinstance(key, str) or not key.strip():
        raise Invalid("an SSH public key must be a non-empty string", field=field)
    key = " ".join(key.split())
    if "\n" in key or "PRIVATE KEY" in key:
        raise Invalid("that is not an SSH public key (never send a private key)", field=field)
    try:
        load_ssh_public_key(key.encode())
    except (ValueError, TypeError) as e:
        # ValueError text from cryptography is plain ("Key is not in the proper format").
        raise Invalid(f"ssh_keys[{index}] is not a valid OpenSSH public key: {e}", field=field) from None
    except Exception as e:  # noqa: BLE001 - e.g. UnsupportedAlgorithm: still a bad key, not a bug
        raise Invalid(f"ssh_keys[{index}] uses an unsupported key type: {e}", field=field) from None
    return key


class UsersResource:
    @falcon.before(admin_hook)
    @validate(resp=Response(HTTP_200=UserList))
    def on_get(self, req, resp):
        """Every user (admin)."""
        rows, more = paginate(User.select(), User.name, req, resp, kind=str)
        resp.media = {"users": [user_view(u) for u in rows], "next": more}

    @falcon.before(admin_hook)
    @validate(json=UserCreate, resp=Response(HTTP_201=UserView))
    def on_post(self, req, resp):
        """Create a user (admin)."""
        body = req.context.json
        if body.name == "me":
            raise Invalid("'me' is reserved: it stands for the caller in /users/me", field="name")
        try:
            with db.atomic():
                user = User.create(name=body.name, role=body.role)
        except IntegrityError:
            raise Conflict(f"user {body.name} exists", field="name") from None
        resp.status = falcon.HTTP_201
        resp.location = f"{API_PREFIX}/users/{user.name}"
        resp.media = user_view(user)


@falcon.before(self_or_admin_hook)
class UserResource:
    @validate(resp=Response(HTTP_200=UserView))
    def on_get(self, req, resp, name):
        """One user (the user themself or an admin)."""
        resp.media = user_view(get_user(name))

    @falcon.before(admin_hook)
    @validate(resp=Response("HTTP_204"))
    def on_delete(self, req, resp, name):
        """Remove a user without clusters (admin)."""
        user = get_user(name)
        if user.id == req.context.user.id:
            raise Conflict("you cannot remove yourself; another admin can", field="name")
        if user.clusters.count():
            raise Conflict(f"user {name} still has clusters")
        user.delete_instance()
        forget_tokens()
        resp.status = falcon.HTTP_204


@falcon.before(self_or_admin_hook)
class TokensResource:
    @validate(resp=Response(HTTP_200=TokenList))
    def on_get(self, req, resp, name):
        """The user's tokens (names and expiry; never the tokens themselves)."""
        tokens, more = paginate(Token.select().where(Token.user == get_user(name)), Token.id, req, resp)
        resp.media = {"tokens": [token_view(t) for t in tokens], "next": more}

    @validate(json=TokenCreate, resp=Response(HTTP_201=TokenCreated))
    def on_post(self, req, resp, name):
        """Create a token; the answer is the only time it is shown."""
        body = req.context.json
        creator = req.context.token
        limit = creator.expires if creator is not None else None
        token, row = create_token(get_user(name), body.name, body.expires_days, not_after=limit)
        capped = limit is not None and row.expires == limit
        resp.status = falcon.HTTP_201
        resp.media = {**token_view(row), "token": token, "capped": capped}
        if capped:
            resp.media["note"] = ("expires when the token that created it does: a token never "
                                  "outlives the token that created it")


@falcon.before(self_or_admin_hook)
class TokenResource:
    @validate(resp=Response("HTTP_204"))
    def on_delete(self, req, resp, name, token_id):
        """Revoke a token."""
        user = get_user(name)
        token_id = parse_id(token_id, f"token of {name}: ")
        deleted = Token.delete().where((Token.user == user) & (Token.id == token_id)).execute()
        if not deleted:
            raise NotFound(f"no token {token_id} of {name}")
        forget_tokens()
        resp.status = falcon.HTTP_204


@falcon.before(self_or_admin_hook)
class SSHKeysResource:
    @validate(resp=Response(HTTP_200=SSHKeyList))
    def on_get(self, req, resp, name):
        """The user's SSH public keys (installed on the nodes of their clusters)."""
        resp.media = {"ssh_keys": get_user(name).ssh_keys}

    @validate(json=SSHKeys, resp=Response(HTTP_200=SSHKeyList))
    def on_put(self, req, resp, name):
        """Replace the user's SSH public keys; each must parse as an OpenSSH public key."""
        user = get_user(name)
        keys = req.context.json.ssh_keys
        if len(keys) > MAX_KEYS:
            raise Invalid(f"at most {MAX_KEYS} keys", field="ssh_keys")
        user.ssh_keys = [check_ssh_key(k, i) for i, k in enumerate(keys)]
        User.update(ssh_keys=user.ssh_keys).where(User.id == user.id).execute()
        forget_tokens()  # cached tokens carry their user, keys included
        resp.media = {"ssh_keys": user.ssh_keys}


def add_routes(app, platform) -> None:
    base = f"{API_PREFIX}/users"
    app.add_route(base, UsersResource())
    app.add_route(base + "/{name}", UserResource())
    app.add_route(base + "/{name}/tokens", TokensResource())
    app.add_route(base + "/{name}/tokens/{token_id}", TokenResource())
    app.add_route(base + "/{name}/ssh_keys", SSHKeysResource())

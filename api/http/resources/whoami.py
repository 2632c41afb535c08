"""`GET /users/me`: who the token belongs to, so the console and `bdp` can name the
caller (for `product/version/id` cluster references and the SSH keys page) without
knowing the user name in advance."""
from __future__ import annotations

from spectree import Response

from api.core.config import API_PREFIX
from api.core.errors import Unauthenticated
from api.http.openapi import validate
from api.http.schemas import UserView


class MeResource:
    inline = True  # a short read: served on the event loop (api/http/inline.py)

    @validate(resp=Response(HTTP_200=UserView))
    def on_get(self, req, resp):
        """The authenticated user: name, role and SSH keys."""
        user = req.context.user
        if user is None:  # only when auth is off and no admin exists yet
            raise Unauthenticated("no user behind this request")
        resp.media = {"name": user.name, "role": user.role, "ssh_keys": user.ssh_keys,
                      "created": user.created.isoformat()}


def add_routes(app, platform) -> None:
    # Falcon matches the literal `me` before `/users/{name}`; a user named "me" is still
    # reachable by admins through the list.
    app.add_route(f"{API_PREFIX}/users/me", MeResource())

"""Quotas (issue 12): GET /users/<name>/quota (the user or an admin) shows the limits and
what the user holds; PUT (admin) sets them ({"clusters", "nodes", "cpus", "memory",
"disks"}, null = no limit). /quotas/default is the default for users without their own."""
from __future__ import annotations

import falcon
from spectree import Response

from api.clusters import quotas
from api.core.config import API_PREFIX
from api.core.models import Quota
from api.http.middleware import admin_hook, require_admin, self_or_admin_hook
from api.http.openapi import validate
from api.http.resources.users import get_user
from api.http.schemas import QuotaLimits, QuotaView


class UserQuota:
    @falcon.before(self_or_admin_hook)
    @validate(resp=Response(HTTP_200=QuotaView))
    def on_get(self, req, resp, name):
        """The user's limits (theirs, or the default's) and what they hold now."""
        resp.media = quotas.view(get_user(name))

    @falcon.before(admin_hook)
    @validate(json=QuotaLimits, resp=Response(HTTP_200=QuotaView))
    def on_put(self, req, resp, name):
        """Set the user's limits (admin)."""
        require_admin(req)
        user = get_user(name)
        quotas.put(user, req.context.json.root)
        resp.media = quotas.view(user)


class DefaultQuota:
    @validate(resp=Response(HTTP_200=QuotaLimits))
    def on_get(self, req, resp):
        """The limits of users without their own."""
        row = Quota.get_or_none(Quota.user.is_null())
        resp.media = {f: getattr(row, f) if row else None for f in quotas.FIELDS}

    @falcon.before(admin_hook)
    @validate(json=QuotaLimits, resp=Response(HTTP_200=QuotaLimits))
    def on_put(self, req, resp):
        """Set the default limits (admin)."""
        require_admin(req)
        quotas.put(None, req.context.json.root)
        self.on_get(req, resp)


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/users/{{name}}/quota", UserQuota())
    app.add_route(f"{API_PREFIX}/quotas/default", DefaultQuota())


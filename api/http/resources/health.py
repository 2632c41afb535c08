"""GET /health: no authentication, answers 200 when the database does."""
from __future__ import annotations

import falcon
from spectree import Response

from api.core.config import API_PREFIX
from api.core.models import db
from api.http.openapi import validate
from api.http.schemas import Health


class HealthResource:
    public = True  # served without a token
    inline = True  # a short read: served on the event loop (api/http/inline.py)

    @validate(resp=Response(HTTP_200=Health))
    def on_get(self, req, resp):
        """Liveness and database check."""
        try:
            db.execute_sql("SELECT 1")
        except Exception as e:  # noqa: BLE001 - any database failure is "unhealthy"
            resp.status = falcon.HTTP_503
            resp.media = {"status": 503, "error": "Service Unavailable", "message": f"database: {e}"}
            return
        resp.media = {"status": "ok", "database": "ok"}


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/health", HealthResource())

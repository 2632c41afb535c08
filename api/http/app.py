"""The Falcon application: middleware, error handlers and every area's routes."""
from __future__ import annotations

import importlib
import logging

import falcon

from api.core import auth
from api.http import errors, headers, media, middleware

log = logging.getLogger("bdp.api")

# Each module exposes add_routes(app, platform); other areas add their line here.
ROUTE_MODULES = [
    "api.http.resources.health",
    "api.http.resources.products",
    "api.http.resources.render",  # POST .../render: a launch's document, nothing registered
    "api.http.resources.clusters",
    "api.http.resources.queue",
    "api.http.resources.users",
    "api.http.resources.whoami",  # GET /users/me (clients)
    "api.http.resources.networks",
    "api.http.resources.hosts",
    "api.http.resources.actions",  # orchestrator logs
    "api.http.resources.operations",  # operations on clusters, and /actions/* aliases
    "api.http.resources.quotas",  # /users/<name>/quota, /quotas/default
    "api.http.resources.endpoints",  # .../<id>/endpoints: web UIs and ports (issue 14)
    "api.http.stream_auth",  # POST /session: the console's cookie for event streams
    "api.http.openapi",  # last: it describes the routes added before it
    "api.http.console",  # after openapi: the web console is not part of the API
]


def create_app(platform, router=None) -> falcon.App:
    """The app; `router` (a falcon CompiledRouter), when given, is the one it routes with,
    so the ASGI layer can look routes up too (api/http/inline.py)."""
    generated = auth.bootstrap_admin(platform.settings)
    if generated:
        log.warning("generated the admin token; it is in %s", platform.settings.data_dir / "admin.token")
    app = falcon.App(router=router, middleware=[headers.SecurityHeaders(), middleware.AuthMiddleware(platform.settings)])
    app.req_options.strip_url_path_trailing_slash = True
    # Only JSON is parsed as media; template and playbook bodies are read raw.
    app.req_options.default_media_type = falcon.MEDIA_JSON
    media.install(app)
    errors.install(app)
    for name in ROUTE_MODULES:
        importlib.import_module(name).add_routes(app, platform)
    return app

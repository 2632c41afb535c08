"""The Falcon application: middleware, error handlers and every area's routes."""
from __future__ import annotations

import importlib
import logging

import falcon

from api.core import auth
from api.http import errors, middleware

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
    "api.http.resources.actions",  # cluster actions and orchestrator logs
    "api.http.openapi",  # last: it describes the routes added before it
    "api.http.console",  # after openapi: the web console is not part of the API
]


def create_app(platform) -> falcon.App:
    generated = auth.bootstrap_admin(platform.settings)
    if generated:
        log.warning("generated the admin token; it is in %s", platform.settings.data_dir / "admin.token")
    app = falcon.App(middleware=[middleware.AuthMiddleware(platform.settings)])
    app.req_options.strip_url_path_trailing_slash = True
    # Only JSON is parsed as media; template and playbook bodies are read raw.
    app.req_options.default_media_type = falcon.MEDIA_JSON
    errors.install(app)
    for name in ROUTE_MODULES:
        importlib.import_module(name).add_routes(app, platform)
    return app

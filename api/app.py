"""The Falcon application: middleware, error handlers and every area's routes."""
from __future__ import annotations

import importlib
import logging

import falcon

from . import auth, errors

log = logging.getLogger("bdp.api")

# Each module exposes add_routes(app, platform); other areas add their line here.
ROUTE_MODULES = [
    "api.resources.health",
    "api.resources.products",
    "api.resources.clusters",
    "api.resources.queue",
    "api.resources.users",
    "api.resources.whoami",  # GET /users/me (clients)
    "api.resources.networks",
    "api.resources.hosts",
    "api.resources.actions",  # cluster actions and orchestrator logs
    "api.resources.openapi",  # last: it describes the routes added before it
    "api.resources.console",  # after openapi: the web console is not part of the API
]


def create_app(platform) -> falcon.App:
    generated = auth.bootstrap_admin(platform.settings)
    if generated:
        log.warning("generated the admin token; it is in %s", platform.settings.data_dir / "admin.token")
    app = falcon.App(middleware=[auth.AuthMiddleware(platform.settings)])
    app.req_options.strip_url_path_trailing_slash = True
    # Only JSON is parsed as media; template and playbook bodies are read raw.
    app.req_options.default_media_type = falcon.MEDIA_JSON
    errors.install(app)
    for name in ROUTE_MODULES:
        importlib.import_module(name).add_routes(app, platform)
    return app

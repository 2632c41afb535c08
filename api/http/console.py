"""The web console: static files served by the API itself, so a site runs no separate
web server or build step. `/` is the console's page, `/console/*` its scripts, styles
and images. These need no token (they hold no data); the console's own API calls do.
"""
from __future__ import annotations

from pathlib import Path

import falcon

CONSOLE_DIR = Path(__file__).resolve().parent / "static"


class IndexResource:
    public = True  # served without a token

    def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_HTML
        # Always revalidated, so a platform upgrade reaches open browsers at once.
        resp.cache_control = ["no-cache"]
        resp.text = (CONSOLE_DIR / "index.html").read_text()


class ConsoleRedirect:
    public = True  # served without a token

    def on_get(self, req, resp):
        raise falcon.HTTPMovedPermanently("/")


def add_routes(app, platform) -> None:
    app.add_route("/", IndexResource())
    app.add_route("/index.html", ConsoleRedirect())
    app.add_static_route("/console", str(CONSOLE_DIR), fallback_filename=None)

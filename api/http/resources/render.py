"""POST /products/<name>/<version>/render: the cluster document a launch with these
options would register, as the API would register it, with nothing created."""
from __future__ import annotations

from spectree import Response

from api.catalog import product as catalog
from api.clusters.registration import preview
from api.core.config import API_PREFIX
from api.http.openapi import validate
from api.http.schemas import LaunchOptions, RenderPreview


class RenderResource:
    @validate(json=LaunchOptions, resp=Response(HTTP_200=RenderPreview))
    def on_post(self, req, resp, name, version):
        """Render the product's template with these options (checked as a launch checks
        them); nothing is registered."""
        product = catalog.get(name, version)
        resp.media = preview(req.context.user, product, req.context.json.root)


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/products/{{name}}/{{version}}/render", RenderResource())

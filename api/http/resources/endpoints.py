"""GET .../<id>/endpoints: the cluster's web UIs and ports, with the URL or command that
opens each from a user's own machine (api/clusters/endpoints.py; served by
api/http/proxy.py and api/http/tunnel.py)."""
from __future__ import annotations

from spectree import Response

from api.clusters.endpoints import endpoint_views
from api.clusters.queries import find_cluster
from api.core.config import API_PREFIX
from api.http.openapi import validate
from api.http.schemas import EndpointList


class EndpointsResource:
    @validate(resp=Response(HTTP_200=EndpointList))
    def on_get(self, req, resp, user, product, version, seq):
        """The cluster's endpoints: http ones with the proxy URL, tcp ones with the
        `bdp port-forward` command that reaches them."""
        c = find_cluster(req.context.user, user, product, version, seq)
        resp.media = {"endpoints": endpoint_views(c)}


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/clusters/{{user}}/{{product}}/{{version}}/{{seq}}/endpoints",
                  EndpointsResource())

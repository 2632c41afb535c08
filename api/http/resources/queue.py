"""/queue/<id>: the seed's asynchronous job resource (one per launch or destroy)."""
from __future__ import annotations

from spectree import Response

from api.clusters.queries import find_job
from api.clusters.views import job_view
from api.core.config import API_PREFIX
from api.http.openapi import validate
from api.http.schemas import JobView


class JobResource:
    @validate(resp=Response(HTTP_200=JobView))
    def on_get(self, req, resp, job_id):
        """A launch or destroy request: the cluster it concerns, its status, and whether it is done."""
        resp.media = job_view(find_job(req.context.user, job_id))


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/queue/{{job_id}}", JobResource())

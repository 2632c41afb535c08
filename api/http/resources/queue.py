"""/queue/<id>: the seed's asynchronous job resource: a launch, a destroy or an operation
(api/clusters/operations.py). DELETE cancels a pending operation."""
from __future__ import annotations

from spectree import Response

from api.clusters import operations
from api.clusters.queries import find_job
from api.clusters.views import job_view
from api.core.config import API_PREFIX
from api.http.openapi import validate
from api.http.schemas import JobView


class JobResource:
    inline = True  # a short read: served on the event loop (api/http/inline.py)

    @validate(resp=Response(HTTP_200=JobView))
    def on_get(self, req, resp, job_id):
        """A launch, destroy or operation: its status, progress, step, reason, result and run."""
        resp.media = job_view(find_job(req.context.user, job_id))

    @validate(resp=Response(HTTP_200=JobView))
    def on_delete(self, req, resp, job_id):
        """Cancel a pending operation (a running or finished one: 409)."""
        resp.media = job_view(operations.cancel(find_job(req.context.user, job_id), req.context.user.name))


def add_routes(app, platform) -> None:
    app.add_route(f"{API_PREFIX}/queue/{{job_id}}", JobResource())

"""Operations on a cluster (issue 12): POST .../operations queues one and answers 202
with its URI; GET lists the cluster's history (launch and destroy included), a page at
a time like every list; GET or DELETE .../operations/<id> shows or cancels one (DELETE
/queue/<id> too). The old
POST .../actions/<action> is an alias that queues the operation of that name."""
from __future__ import annotations

import falcon
from spectree import Response

from api.clusters import operations
from api.clusters.queries import find_cluster, find_job
from api.clusters.views import job_uri, job_view
from api.core.config import API_PREFIX
from api.core.errors import NotFound
from api.core.models import Job
from api.http.openapi import validate
from api.http.pagination import paginate
from api.http.schemas import JobList, JobView, OperationRequest


def accepted(resp, job) -> None:
    resp.status = falcon.HTTP_202
    resp.location = job_uri(job.id)
    resp.media = {**job_view(job), "operation": job_uri(job.id)}


class OperationsResource:
    def __init__(self, platform):
        self.platform = platform

    @validate(json=OperationRequest, resp=Response(HTTP_202=JobView))
    def on_post(self, req, resp, user, product, version, seq):
        """Queue an operation on the cluster (202 + Location of its `/queue/<id>`)."""
        cluster = find_cluster(req.context.user, user, product, version, seq)
        accepted(resp, operations.enqueue(self.platform, req.context.user, cluster, req.context.json.root))

    @validate(resp=Response(HTTP_200=JobList))
    def on_get(self, req, resp, user, product, version, seq):
        """The cluster's operations, oldest first: launch, day-2 operations, destroy; a
        page at a time."""
        cluster = find_cluster(req.context.user, user, product, version, seq)
        rows, more = paginate(operations.history(cluster), Job.id, req, resp)
        resp.media = {"operations": [job_view(j, cluster) for j in rows], "next": more}


def _own_job(req, user, product, version, seq, job_id):
    cluster = find_cluster(req.context.user, user, product, version, seq)
    job = find_job(req.context.user, job_id)
    if job.cluster_id != cluster.id:
        raise NotFound(f"cluster {cluster.dn} has no operation {job_id}")
    return job


class OperationResource:
    @validate(resp=Response(HTTP_200=JobView))
    def on_get(self, req, resp, user, product, version, seq, job_id):
        """One operation of the cluster."""
        resp.media = job_view(_own_job(req, user, product, version, seq, job_id))

    @validate(resp=Response(HTTP_200=JobView))
    def on_delete(self, req, resp, user, product, version, seq, job_id):
        """Cancel a pending operation (a running or finished one: 409)."""
        job = _own_job(req, user, product, version, seq, job_id)
        resp.media = job_view(operations.cancel(job, req.context.user.name))


class ActionAlias:
    """POST .../actions/<action>: the operation of that name, queued (202)."""

    def __init__(self, platform):
        self.platform = platform

    @validate(resp=Response(HTTP_202=JobView))
    def on_post(self, req, resp, user, product, version, seq, action):
        """Queue the operation `action` (start, stop, restart, status): an alias of
        POST .../operations {"op": action}."""
        cluster = find_cluster(req.context.user, user, product, version, seq)
        if action not in operations.PLAYBOOK_OPS + ("repair",):
            raise NotFound(f"no action {action!r}; actions are "
                           f"{', '.join(operations.PLAYBOOK_OPS + ('repair',))}", field="action")
        job = operations.enqueue(self.platform, req.context.user, cluster, {"op": action})
        accepted(resp, job)
        resp.media["action"] = action


def add_routes(app, platform) -> None:
    one = API_PREFIX + "/clusters/{user}/{product}/{version}/{seq}"
    app.add_route(one + "/operations", OperationsResource(platform))
    app.add_route(one + "/operations/{job_id}", OperationResource())
    app.add_route(one + "/actions/{action}", ActionAlias(platform))

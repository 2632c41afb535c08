"""Orchestrator logs: GET .../<id>/logs lists the cluster's playbook runs: action, time,
result, output, tasks (?action=start, ?run=<id> to filter). Cluster actions are
operations now (api/http/resources/operations.py)."""
from __future__ import annotations

from spectree import Response

from api.clusters.queries import find_cluster
from api.core.config import API_PREFIX
from api.core.errors import NotFound, parse_id
from api.core.models import Run
from api.http.openapi import validate
from api.http.pagination import paginate
from api.http.schemas import RunList


def _ts(value) -> str | None:
    return value.isoformat() if value else None


def run_view(run: Run, output: bool = True) -> dict:
    view = {"id": run.id, "action": run.action, "time": _ts(run.started), "started": _ts(run.started),
            "finished": _ts(run.finished), "result": run.status, "status": run.status, "rc": run.rc,
            "summary": run.summary, "events": run.events}
    if output:
        view["output"] = run.stdout
    return view


class LogsResource:
    @validate(resp=Response(HTTP_200=RunList))
    def on_get(self, req, resp, user, product, version, seq):
        """The orchestrator runs of the cluster, oldest first (?action=start, ?run=7 to filter)."""
        cluster = find_cluster(req.context.user, user, product, version, seq)
        query = Run.select().where(Run.cluster == cluster.id)
        action = req.get_param("action")
        if action:
            query = query.where(Run.action == action)
        run = req.get_param("run")
        if run:
            query = query.where(Run.id == parse_id(run, "run "))
            if not query.exists():
                raise NotFound(f"cluster {cluster.dn} has no run {run}", field="run")
        output = req.get_param_as_bool("output", default=True)
        rows, more = paginate(query, Run.id, req, resp)
        resp.media = {"runs": [run_view(r, output) for r in rows], "next": more}


def add_routes(app, platform) -> None:
    one = API_PREFIX + "/clusters/{user}/{product}/{version}/{seq}"
    app.add_route(one + "/logs", LogsResource())

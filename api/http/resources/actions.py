"""Cluster actions and orchestrator logs.

POST .../clusters/<user>/<product>/<version>/<id>/actions/{start,stop,restart,status}
runs the product playbook with that tag and answers with the result once it is done
(an action takes seconds; `status` is a question whose answer the caller waits for).
GET .../<id>/logs lists the orchestrator runs: action, time, result, output, tasks.
"""
from __future__ import annotations

import threading

from api.clusters.queries import find_cluster
from api.core.config import API_PREFIX
from api.core.errors import Conflict, NotFound
from api.core.models import Run
from api.http.errors import APIError
from api.orchestrator.controller import ACTIONS, ActionError, Orchestrator


def _ts(value) -> str | None:
    return value.isoformat() if value else None


def run_view(run: Run, output: bool = True) -> dict:
    view = {"id": run.id, "action": run.action, "time": _ts(run.started), "started": _ts(run.started),
            "finished": _ts(run.finished), "result": run.status, "status": run.status, "rc": run.rc,
            "summary": run.summary, "events": run.events}
    if output:
        view["output"] = run.stdout
    return view


class ActionResource:
    def __init__(self, platform):
        self.platform = platform
        # An action holds its request thread until the playbook is done; capping how many
        # run at once keeps threads free for everyone else's requests.
        self.max_actions = platform.settings.max_actions
        self.slots = threading.BoundedSemaphore(self.max_actions)

    def on_post(self, req, resp, user, product, version, seq, action):
        """Run the playbook with tag `action`; answers the result (cluster status, tasks)."""
        cluster = find_cluster(req.context.user, user, product, version, seq)
        if action not in ACTIONS:
            raise NotFound(f"no action {action!r}; actions are {', '.join(ACTIONS)}",
                           field="action")
        if not self.slots.acquire(blocking=False):
            raise APIError(503, "Service Unavailable",
                           f"{self.max_actions} cluster actions are running already; try again shortly",
                           headers={"Retry-After": "10"})
        # A fresh lease owner per request: two requests on one cluster must not share it.
        try:
            answer = Orchestrator(self.platform).run_action(cluster, action)
        except ActionError as exc:
            raise Conflict(str(exc), field="status") from None
        finally:
            self.slots.release()
        answer["cluster"] = f"{API_PREFIX}/{cluster.dn}"
        resp.media = answer


class LogsResource:
    def on_get(self, req, resp, user, product, version, seq):
        """The orchestrator runs of the cluster, oldest first (?action=start to filter)."""
        cluster = find_cluster(req.context.user, user, product, version, seq)
        query = Run.select().where(Run.cluster == cluster.id)
        action = req.get_param("action")
        if action:
            query = query.where(Run.action == action)
        output = req.get_param_as_bool("output", default=True)
        resp.media = {"runs": [run_view(r, output) for r in query.order_by(Run.id)]}


def add_routes(app, platform) -> None:
    one = API_PREFIX + "/clusters/{user}/{product}/{version}/{seq}"
    app.add_route(one + "/actions/{action}", ActionResource(platform))
    app.add_route(one + "/logs", LogsResource())

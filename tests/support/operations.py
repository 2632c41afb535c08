"""Helpers for operations through the REST API: queue one (202), wait for it to end,
and the old action answer (result, cluster status, reason, the run's task events)."""
from __future__ import annotations

from support.common import wait_for

API = "/bigdata/api/v1"


def queue(http, path: str, op: str, **params) -> dict:
    """POST .../operations {"op": op, ...}; asserts the 202 and returns the answer."""
    r = http.post(f"{path}/operations", json={"op": op, **params})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["uri"]
    return r.json()


def wait_op(http, job: dict, timeout: float = 600, statuses=("succeeded", "failed", "cancelled")) -> dict:
    """Poll /queue/<id> until the operation reaches one of `statuses`."""
    where = job["uri"].split(API, 1)[1]

    def ended():
        view = http.get(where).json()
        return view if view["status"] in statuses else None
    return wait_for(ended, timeout, interval=0.5, message=f"operation {job['op']} #{job['id']} to end")


def run_op(http, path: str, op: str, timeout: float = 600, **params) -> dict:
    return wait_op(http, queue(http, path, op, **params), timeout)


def action(http, path: str, name: str, timeout: float = 600) -> dict:
    """The old POST .../actions/<name> answer, from the operation it now queues."""
    r = http.post(f"{path}/actions/{name}")
    assert r.status_code == 202, r.text
    done = wait_op(http, r.json(), timeout)
    run = done["run"]
    events = http.get(f"{path}/logs", params={"run": run}).json()["runs"][0]["events"] if run else []
    return {"result": "successful" if done["status"] == "succeeded" else "failed",
            "status": done["result"]["cluster_status"] if done.get("result") else done["cluster_status"],
            "reason": done["reason"], "run": run, "events": events, "operation": done}

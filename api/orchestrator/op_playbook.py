"""Operations that are playbook runs (start, stop, restart, status, reconfigure, keys),
repair and extend, run by the executor (operations.py).

A day-2 playbook operation keeps the cluster's status while it runs and never fails the
cluster: a failing run fails the operation (its reason and run log), and the cluster's
health says so (api/clusters/views.day2_of). Only what the run proves changes the status:
`stop` makes it `stopped`; a passing start/restart/status makes a stopped cluster
`ready`; a failing `status` makes a ready one `stopped`.
"""
from __future__ import annotations

import base64

from api.core import status as st
from api.core.config import REPO_ROOT
from api.core.models import Cluster, Node, utcnow
from api.core.status import NodeStatus, RunStatus

COMPONENT = "operations"


def _outcome(result, cluster_id: int) -> dict:
    return {"run": result.run.id, "result": RunStatus.SUCCESSFUL if result.ok else RunStatus.FAILED,
            "cluster_status": Cluster.get_by_id(cluster_id).status}


def run(ex, job, resumed: bool) -> None:
    tag = "start" if job.kind == "reconfigure" else job.kind
    with ex.cluster_lease(job) as cluster:
        result = ex.playbook(job, cluster, tag, 20)
        if tag == "status":
            # The check is the truth about a started cluster.
            if result.ok and cluster.status == st.STOPPED:
                st.transition(cluster, st.READY, COMPONENT, "status check passed", reason="")
            elif not result.ok and cluster.status == st.READY:
                st.transition(cluster, st.STOPPED, COMPONENT, result.reason, reason=result.reason)
        elif tag == "stop" and result.ok:
            if cluster.status == st.READY:
                st.transition(cluster, st.STOPPED, COMPONENT, "stopped by request", reason="",
                              expect=st.READY)
        elif tag != "stop" and result.ok:
            result = ex.until_ready(job, cluster, 70)
            if result.ok and Cluster.get_by_id(cluster.id).status == st.STOPPED:
                st.transition(cluster, st.READY, COMPONENT, f"{job.kind}: readiness check passed",
                              reason="", expect=st.STOPPED)
    outcome = _outcome(result, job.cluster_id)
    if result.ok:
        ex.succeed(job, outcome)
    else:
        ex.fail(job, result.reason, outcome)


def repair(ex, job, resumed: bool) -> None:
    """A failed cluster placed, started and configured again (with the product's current
    playbook); a cluster at rest is reconfigured (tag start, then the status check)."""
    state = job.result or {}
    cluster = ex.check(job)
    if not state.get("relaunched"):
        if cluster.status in st.AT_REST:
            job.kind = "reconfigure"
            return run(ex, job, resumed)
        # A failed cluster gives its resources back first (api/framework/release.py).
        ex.wait(job, lambda: not Node.select().where((Node.cluster == job.cluster_id)
                                                     & Node.host.is_null(False)).exists(),
                ex.settings.lease_seconds * 2 + 60, "waiting for the failed cluster's resources to be released")
        with ex.cluster_lease(job, {st.FAILED}) as cluster:
            if Node.select().where((Node.cluster == cluster.id) & Node.host.is_null(False)).exists():
                raise RuntimeError("the failed cluster still holds resources; try again")
            since = utcnow()
            Node.update(status=NodeStatus.QUEUED, reason="", host=None, container_id="").where(
                Node.cluster == cluster.id).execute()
            if not st.transition(cluster, st.REGISTERED, COMPONENT,
                                 f"repair #{job.id}: placing, starting and configuring it again",
                                 expect=st.FAILED, reason="", progress=0, step=""):
                raise RuntimeError(f"the cluster moved to {Cluster.get_by_id(cluster.id).status}")
            ex.save(job, relaunched=since.isoformat())
        ex.platform.wake("framework")
    done = ex.wait(job, lambda: Cluster.get_by_id(job.cluster_id).status in (st.READY, st.FAILED),
                   ex.settings.scheduling_timeout + ex.settings.start_timeout + ex.settings.ready_timeout
                   + 600, "the cluster is launched again")
    cluster = Cluster.get_by_id(job.cluster_id)
    if done and cluster.status == st.READY:
        ex.succeed(job, {"cluster_status": cluster.status}, "the cluster is ready again")
    else:
        ex.fail(job, f"the cluster did not come back: {cluster.reason or cluster.status}",
                {"cluster_status": cluster.status})


def extend(ex, job, resumed: bool) -> None:
    from api.clusters import lifetimes
    cluster = ex.check(job)
    until = lifetimes.extend(cluster, job.params["lifetime"], ex.settings)
    ex.succeed(job, {"expires": until.isoformat()}, f"expires {until.isoformat(timespec='seconds')}Z")


def keys(ex, job, resumed: bool) -> None:
    """The owner's SSH keys as registered now onto every node (playbooks/keys.yml), beside
    the platform's own key of the cluster; the cluster keeps its status."""
    from api.clusters.keys import authorized_keys
    with ex.cluster_lease(job) as cluster:
        keys = authorized_keys(ex.settings, cluster)
        text = "".join(f"{key}\n" for key in keys)
        result = ex.playbook(job, cluster, "keys", 20,
                             extravars={"bdp_authorized_keys_b64": base64.b64encode(text.encode()).decode()},
                             playbook=REPO_ROOT / "playbooks" / "keys.yml")
    outcome = _outcome(result, job.cluster_id)
    if result.ok:
        ex.succeed(job, outcome, f"{len(keys) - 1} key(s) of {cluster.user.name} on every node")
    else:
        ex.fail(job, result.reason, outcome)

"""Operations: every change to a running cluster is a queued job (issue 12).

This module owns the queue: what may be asked (`enqueue` checks an operation and its
arguments against the cluster, in the request, and stores a `pending` Job), cancelling a
pending one, a cluster's history, and the executor's hold on an operation (a lease on
its Job row: `claim`, `renew`). The orchestrator's executor (api/orchestrator/operations.py)
runs them: one at a time per cluster in the order they were asked (a cluster's open
operation with the lowest id is its head), different clusters in parallel. No request
thread ever runs a playbook.

Launch and destroy are jobs too; their status is derived from the cluster's
(`OperationStatus.derived`), so `/queue/<id>` and `GET .../operations` show every kind.
"""
from __future__ import annotations

import datetime as dt

from peewee import fn

from api.core import lease
from api.core import status as st
from api.core.errors import Conflict, Invalid
from api.core.models import Cluster, Job, Node, User, db, utcnow
from api.core.status import NodeStatus, OperationStatus

# Operations a user may ask for, and the arguments each takes.
PLAYBOOK_OPS = ("start", "stop", "restart", "status", "reconfigure")
# keys: the owner's SSH keys as registered now, onto every node (bdp keys push).
OPS = (*PLAYBOOK_OPS, "repair", "resize", "replace", "extend", "keys")
ARGUMENTS = {"resize": ("options",), "replace": ("nodes",), "extend": ("lifetime",)}
DERIVED = ("launch", "destroy")  # jobs whose status is their cluster's


def check(settings, cluster: Cluster, body) -> tuple[str, dict]:
    """The operation asked for in `body` ({"op": ..., arguments}), checked: (op, params)."""
    if not isinstance(body, dict):
        raise Invalid('an operation is a JSON object, e.g. {"op": "restart"}', field="op")
    op = body.get("op")
    if op not in OPS:
        raise Invalid(f"unknown operation {op!r}; operations are {', '.join(OPS)}", field="op")
    params = {k: v for k, v in body.items() if k != "op"}
    allowed = ARGUMENTS.get(op, ())
    for key in params:
        if key not in allowed:
            takes = f"takes {', '.join(allowed)}" if allowed else "takes no arguments"
            raise Invalid(f"operation {op} {takes}; {key!r} is not one of them", field=key)
    for key in allowed:
        if key not in params:
            raise Invalid(f"operation {op} needs {key!r}", field=key)
    if cluster.status in st.GONE:
        raise Conflict(f"cluster {cluster.dn} is {cluster.status}", field="status")
    if cluster.status == st.FAILED:
        if op == "start":  # starting a failed cluster means bringing it back
            op = "repair"
        elif op != "repair":
            raise Conflict(f"cluster {cluster.dn} failed ({cluster.reason}); only repair (or start) "
                           "can bring it back", field="status")
    if op == "replace":
        params["nodes"] = _replace_nodes(cluster, params["nodes"])
    if op == "resize":
        from api.clusters import quotas, resize
        # A 400 (or 403) now rather than a failed operation; the executor checks again,
        # atomically, when it adds the nodes.
        plan = resize.plan(cluster, params["options"], settings.max_nodes)
        quotas.check(User.get_by_id(cluster.user_id), quotas.of_checked(plan.checked, plan.added, 0))
    if op == "extend":
        from api.clusters import lifetimes
        lifetimes.parse(params["lifetime"], field="lifetime")
    return op, params


def _replace_nodes(cluster: Cluster, nodes) -> list[str]:
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, str) for n in nodes):
        raise Invalid('nodes must list node names, e.g. ["compute2"]', field="nodes")
    known = {n for (n,) in Node.select(Node.name).where(Node.cluster == cluster.id).tuples()}
    for name in nodes:
        if name not in known:
            raise Invalid(f"cluster {cluster.dn} has no node {name!r}; its nodes are "
                          f"{', '.join(sorted(known))}", field="nodes")
    return sorted(set(nodes))


def enqueue(platform, user: User, cluster: Cluster, body) -> Job:
    """Queue the operation `body` asks for on `cluster`; returns its pending Job."""
    op, params = check(platform.settings, cluster, body)
    job = add(cluster, op, params, user.name)
    platform.wake("operations")
    return job


def add(cluster: Cluster, op: str, params: dict | None = None, who: str = "") -> Job:
    """Store a pending operation (the caller checked it)."""
    with db.atomic():
        job = Job.create(cluster=cluster.id, kind=op, params=params or {}, status=OperationStatus.PENDING,
                         who=who, step="queued")
        st.record(cluster.id, "api", f"operation {op} #{job.id} queued" + (f" by {who}" if who else ""))
    return job


def cancel(job: Job, who: str) -> Job:
    """Cancel a pending operation; a running or finished one is a 409."""
    if job.kind in DERIVED or job.status not in OperationStatus.OPEN:
        raise Conflict(f"operation #{job.id} ({job.kind}) is "
                       f"{job.status or 'a ' + job.kind + ' job'}: only a pending operation can be "
                       "cancelled", field="status")
    if not st.move_operation(job.id, OperationStatus.CANCELLED, expect=OperationStatus.PENDING,
                             reason=f"cancelled by {who}", step="cancelled"):
        raise Conflict(f"operation #{job.id} has started: only a pending operation can be cancelled",
                       field="status")
    st.record(job.cluster_id, "api", f"operation {job.kind} #{job.id} cancelled by {who}")
    return Job.get_by_id(job.id)


def history(cluster: Cluster):
    """The cluster's jobs, a query (callers page it in id order)."""
    return Job.select().where(Job.cluster == cluster.id)


def head_ids(clusters):
    """The id of each cluster's head operation (running, or next to run): a subquery;
    `clusters` is a condition on Job.cluster."""
    return (Job.select(fn.MIN(Job.id)).where(clusters & Job.status.in_(OperationStatus.OPEN))
            .group_by(Job.cluster))


def judged_ids(clusters):
    """The id of each cluster's last finished day-2 operation, the one whose outcome its
    health shows (a cancellation or an extension says nothing of it): a subquery."""
    return (Job.select(fn.MAX(Job.id)).where(
        clusters & Job.status.in_(OperationStatus.FINAL) & (Job.status != OperationStatus.CANCELLED)
        & Job.kind.not_in(DERIVED + ("extend",)))
        .group_by(Job.cluster))


def open_of(cluster_ids: list[int]) -> dict[int, Job]:
    """Each cluster's head operation (running, or next to run), by cluster id."""
    if not cluster_ids:
        return {}
    return {j.cluster_id: j for j in Job.select().where(Job.id.in_(head_ids(Job.cluster.in_(cluster_ids))))}


# --- the executor's side ------------------------------------------------------------------

def heads() -> list[Job]:
    """Every cluster's head operation with its cluster (oldest first)."""
    first = (Job.select(fn.MIN(Job.id)).where(Job.status.in_(OperationStatus.OPEN))
             .group_by(Job.cluster))
    return list(Job.select(Job, Cluster).join(Cluster).where(Job.id.in_(first)).order_by(Job.id))


def free(job: Job, owner: str) -> bool:
    """Nobody else runs it: pending, or running for an executor whose lease ran out."""
    if job.status == OperationStatus.PENDING:
        return True
    return job.owner in (None, owner) or job.expires is None or job.expires < utcnow()


def claim(job_id: int, owner: str, seconds: float) -> bool:
    """Take (or renew) an operation: a pending one starts running; a running one whose
    executor's lease ran out is taken over. One conditional UPDATE."""
    now = utcnow()
    expires = now + dt.timedelta(seconds=seconds)
    taken = (Job.update(status=OperationStatus.RUNNING, owner=owner, expires=expires,
                        started=fn.COALESCE(Job.started, now))
             .where((Job.id == job_id) & (
                 (Job.status == OperationStatus.PENDING)
                 | ((Job.status == OperationStatus.RUNNING)
                    & (Job.owner.is_null() | (Job.owner == owner) | Job.expires.is_null()
                       | (Job.expires < now)))))
             .execute())
    return bool(taken)


@lease.kept_when_busy
def renew(job_id: int, owner: str, seconds: float) -> bool:
    """Keep an operation's lease; False when it is not ours any more (or finished)."""
    expires = utcnow() + dt.timedelta(seconds=seconds)
    return bool(Job.update(expires=expires).where(
        (Job.id == job_id) & (Job.owner == owner) & (Job.status == OperationStatus.RUNNING)).execute())


def let_go(job_id: int, owner: str) -> None:
    """An executor stopping leaves its running operation to the next one at once."""
    Job.update(owner=None, expires=None).where((Job.id == job_id) & (Job.owner == owner)).execute()


def progress(job_id: int, step: str, percent: int | None = None, **fields) -> None:
    values = {"step": step, **fields}
    if percent is not None:
        values["progress"] = max(0, min(100, int(percent)))
    Job.update(**values).where(Job.id == job_id).execute()


def finish(job: Job, to: str, reason: str = "", result=None, component: str = "orchestrator") -> bool:
    """End a running operation (succeeded, failed or cancelled), with an event."""
    fields = {"reason": reason, "step": to}
    if to == OperationStatus.SUCCEEDED:
        fields["progress"] = 100
    if result is not None:
        fields["result"] = result
    sources = tuple(s for s in OperationStatus.OPEN if to in OperationStatus.TRANSITIONS[s])
    done = st.move_operation(job.id, to, expect=sources, **fields)
    if done:
        st.record(job.cluster_id, component, f"operation {job.kind} #{job.id} {to}"
                  + (f": {reason}" if reason else ""),
                  level="error" if to == OperationStatus.FAILED else "info")
    return done


def settle() -> int:
    """Operations that can never run: those of a cluster being destroyed are cancelled;
    the head of a failed cluster that is not a repair fails, saying why. Returns how many."""
    ended = 0
    for job in heads():
        cluster = job.cluster
        if cluster.status in st.GONE and (job.status == OperationStatus.PENDING or job.expires is None
                                          or job.expires < utcnow()):
            ended += finish(job, OperationStatus.CANCELLED, f"the cluster is {cluster.status}")
        elif (cluster.status == st.FAILED and job.status == OperationStatus.PENDING
              and job.kind not in ("repair", "extend")):
            ended += finish(job, OperationStatus.FAILED,
                            f"the cluster failed ({cluster.reason}); repair it first")
    return ended


def problems(cluster_ids: list[int]) -> dict[int, list[dict]]:
    """What a cluster's last finished day-2 operation says is wrong, when it failed: a
    failing operation degrades the cluster's health instead of failing the cluster."""
    if not cluster_ids:
        return {}
    out: dict[int, list[dict]] = {}
    for job in Job.select().where(Job.id.in_(judged_ids(Job.cluster.in_(cluster_ids)))):
        if job.status == OperationStatus.FAILED:
            out[job.cluster_id] = [failed_problem(job.id, job.kind, job.status, job.reason)]
    return out


def failed_problem(job_id: int, op: str, status: str, reason: str) -> dict:
    """A health problem: a day-2 operation that failed."""
    return {"operation": job_id, "op": op, "status": status, "reason": reason}


def holding_nodes(cluster_id: int) -> list[Node]:
    """Nodes that are (or are becoming) part of the cluster."""
    return list(Node.select().where((Node.cluster == cluster_id)
                                    & (Node.status != NodeStatus.REMOVING)).order_by(Node.id))

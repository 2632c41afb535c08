"""Every status the platform writes, and the cluster state machine.

This module is the only place that changes `Cluster.status`. Cluster statuses are the
seed's, verbatim; which component writes which is in docs/architecture.md. Every change
is a conditional UPDATE (`WHERE status = <expected>`), so two processes can never both
move a cluster, and every change is also an Event.

Node and run statuses are named here too (`NodeStatus`, `RunStatus`), with the sets of
statuses each controller acts on, so no module spells a status as a bare string.
"""
from __future__ import annotations

from api.core.models import Cluster, Event, Job, db, utcnow

REGISTERED = "registered"
SCHEDULING = "scheduling"
SCHEDULED = "scheduled"
CONFIGURING = "configuring"
CONFIGURED = "configured"
READY = "ready"
STOPPED = "stopped"
DESTROYING = "destroying"
DESTROYED = "destroyed"
FAILED = "failed"

# Which statuses each status may move to. DESTROYING is reachable from everything
# but DESTROYED: a user may give up on a cluster at any point.
TRANSITIONS: dict[str, set[str]] = {
    REGISTERED: {SCHEDULING, FAILED},
    SCHEDULING: {SCHEDULED, FAILED},
    SCHEDULED: {CONFIGURING, FAILED},
    CONFIGURING: {CONFIGURED, FAILED},
    CONFIGURED: {READY, CONFIGURING, FAILED},
    READY: {CONFIGURING, STOPPED, FAILED},
    STOPPED: {CONFIGURING, READY, FAILED},
    # repair: a failed cluster (its resources already given back) is placed, started and
    # configured again from the start, with the product's current playbook.
    FAILED: {REGISTERED},
    DESTROYING: {DESTROYED},
    DESTROYED: set(),
}
for _status, _targets in TRANSITIONS.items():
    if _status not in (DESTROYING, DESTROYED):
        _targets.add(DESTROYING)

# Every cluster status (the values `?status=` accepts).
ALL = frozenset(TRANSITIONS)
# Statuses in which a cluster holds (or may hold) containers, addresses and disks.
ACTIVE = {REGISTERED, SCHEDULING, SCHEDULED, CONFIGURING, CONFIGURED, READY, STOPPED, FAILED}
# Statuses after which nothing more happens on its own.
FINAL = {READY, STOPPED, FAILED, DESTROYED}

# What each controller claims (with a lease) and acts on.
FRAMEWORK_CLAIMS = {REGISTERED, SCHEDULING, DESTROYING}
ORCHESTRATOR_CLAIMS = {SCHEDULED, CONFIGURING, CONFIGURED}
# Clusters whose running nodes the framework watches, and those of them a dead node
# fails: a `ready` or `stopped` cluster keeps its status (the node and an event say
# what died).
WATCHED = {SCHEDULED, CONFIGURING, CONFIGURED, READY, STOPPED}
FAIL_ON_DEAD_NODE = {SCHEDULED, CONFIGURING, CONFIGURED}
# Where a cluster action may start (status: any started cluster, even one still
# waiting to be ready).
ACTION_FROM = {READY, STOPPED}
STATUS_ACTION_FROM = {READY, STOPPED, CONFIGURED}
# Clusters the orchestrator's playbook runs may keep working on.
RUN_HOLDS = {CONFIGURING, CONFIGURED, READY, STOPPED}
# Day-2 operations run on a cluster at rest, which keeps its status while they run
# (a field of the cluster view names the running operation); `repair` starts from failed.
AT_REST = {READY, STOPPED}
REPAIR_FROM = {READY, STOPPED, FAILED}
# A cluster in these statuses will not run its queued operations any more.
GONE = {DESTROYING, DESTROYED}
# Whose nodes a user may reach through the proxy and tunnels (issue 14): containers exist
# from `scheduled`; a failed cluster's are kept for debugging; stopped ones do not run.
REACHABLE = {SCHEDULED, CONFIGURING, CONFIGURED, READY, FAILED}


class NodeStatus:
    """A node's status (the framework writes them)."""
    QUEUED = "queued"  # registered or placed, its container not yet running
    RUNNING = "running"
    FAILED = "failed"  # its container exited, disappeared or did not start
    STOPPED = "stopped"
    LOST = "lost"  # its host stopped answering; adopted again (running) when it is back
    DESTROYED = "destroyed"
    # Nodes that keep their host's cpus, memory and disks.
    HOLDING = (QUEUED, RUNNING, FAILED, STOPPED, LOST)
    # Nodes that make a cluster's health degraded.
    UNHEALTHY = (FAILED, LOST)
    # Day-2 changes an operation asks of the framework (api/framework/changes.py).
    DRAINING = "draining"  # leaving the cluster: the product moves its work off it first
    REMOVING = "removing"  # the framework removes its container and gives back what it held
    REPLACING = "replacing"  # the framework recreates it: same name and addresses
    CHANGING = (DRAINING, REMOVING, REPLACING)
    HOLDING = HOLDING + CHANGING


class Health:
    """A cluster's health, apart from its lifecycle status: a dead or lost node degrades
    a `ready` cluster instead of hiding behind it (the framework's survey sets it), and so
    does a day-2 operation that failed (api/clusters/views.day2_of adds those)."""
    HEALTHY = "healthy"  # every node runs
    DEGRADED = "degraded"  # some node failed or is lost; `problems` say which and why
    UNKNOWN = "unknown"  # not running yet, or no longer


class RunStatus:
    """An orchestrator run's status (`Run.status`)."""
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the orchestrator stopped or lost the lease
    INTERRUPTED = "interrupted"  # found `running` after its process died


class OperationStatus:
    """A queued operation's status (`Job.status`, api/clusters/operations.py). Launch and
    destroy jobs derive theirs from the cluster's status (`derived`)."""
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    OPEN = (PENDING, RUNNING)
    FINAL = (SUCCEEDED, FAILED, CANCELLED)
    TRANSITIONS = {PENDING: {RUNNING, CANCELLED, FAILED}, RUNNING: {SUCCEEDED, FAILED, CANCELLED},
                   SUCCEEDED: set(), FAILED: set(), CANCELLED: set()}

    @staticmethod
    def derived(kind: str, cluster_status: str, ever_ready: bool = False) -> str:
        """The status of a launch or destroy job, from its cluster's status."""
        if kind == "destroy":
            return OperationStatus.SUCCEEDED if cluster_status == DESTROYED else OperationStatus.RUNNING
        if cluster_status == REGISTERED:
            return OperationStatus.PENDING
        if cluster_status in (READY, STOPPED):
            return OperationStatus.SUCCEEDED
        if cluster_status == FAILED:
            return OperationStatus.FAILED
        if cluster_status in (DESTROYING, DESTROYED):
            return OperationStatus.SUCCEEDED if ever_ready else OperationStatus.CANCELLED
        return OperationStatus.RUNNING


def move_operation(job_id: int, to: str, *, expect: str | tuple[str, ...] | None = None,
                   **fields) -> bool:
    """Move an operation to `to` if it is still in `expect` (default: any status allowed to
    reach `to`): one conditional UPDATE, like a cluster transition. False when it was not."""
    sources = ({s for s, targets in OperationStatus.TRANSITIONS.items() if to in targets}
               if expect is None else ({expect} if isinstance(expect, str) else set(expect)))
    if not sources or any(to not in OperationStatus.TRANSITIONS[s] for s in sources):
        raise TransitionError(f"{sorted(sources)} -> {to} is not an operation transition")
    if to in OperationStatus.FINAL:
        fields.setdefault("finished", utcnow())
        fields.setdefault("owner", None)
        fields.setdefault("expires", None)
    return bool(Job.update(status=to, **fields).where(
        (Job.id == job_id) & Job.status.in_(sources)).execute())


class TransitionError(Exception):
    pass


def record(cluster_id: int | None, component: str, message: str, level: str = "info") -> None:
    Event.create(cluster=cluster_id, component=component, message=message, level=level)


def transition(cluster: Cluster | int, to: str, component: str, message: str = "", *,
               expect: str | set[str] | None = None, **fields) -> bool:
    """Move a cluster to `to` if it is still in `expect` (default: any status allowed
    to reach `to`). Returns False when another process moved it first.

    `fields` are other Cluster columns to set in the same UPDATE (reason, progress...).
    """
    cluster_id = cluster if isinstance(cluster, int) else cluster.id
    if expect is None:
        sources = {s for s, targets in TRANSITIONS.items() if to in targets}
    else:
        sources = {expect} if isinstance(expect, str) else set(expect)
        illegal = [s for s in sources if to not in TRANSITIONS[s]]
        if illegal:
            raise TransitionError(f"{illegal} -> {to} is not a cluster transition")
    now = utcnow()
    with db.atomic():
        changed = (Cluster.update(status=to, status_since=now, updated=now, **fields)
                   .where((Cluster.id == cluster_id) & (Cluster.status.in_(sources)))
                   .execute())
        if changed:
            text = f"{to}" + (f": {message}" if message else "")
            record(cluster_id, component, text, level="error" if to == FAILED else "info")
            if to == READY:
                # The launch succeeded: said on its job, since the event saying so is
                # pruned with age (api/core/retention.py) and a launch job's status is
                # read from it once its cluster is destroyed (OperationStatus.derived).
                (Job.update(finished=now).where((Job.cluster == cluster_id) & (Job.kind == "launch")
                                                & Job.finished.is_null()).execute())
    if changed and not isinstance(cluster, int):
        cluster.status = to
        for key, value in fields.items():
            setattr(cluster, key, value)
    return bool(changed)


def fail(cluster: Cluster | int, component: str, reason: str, *,
         expect: str | set[str] | None = None) -> bool:
    """Give up on a cluster with a reason a person can act on (only from `expect`, if given)."""
    return transition(cluster, FAILED, component, reason, expect=expect, reason=reason)


def set_reason(cluster_id: int, reason: str) -> None:
    """Say why a cluster waits, without changing its status (the next transition clears it)."""
    Cluster.update(reason=reason, updated=utcnow()).where(Cluster.id == cluster_id).execute()


def set_progress(cluster_id: int, done: int, total: int) -> None:
    percent = 100 if total == 0 else int(done * 100 / total)
    Cluster.update(progress=percent, step=f"{done}/{total}", updated=utcnow()).where(
        Cluster.id == cluster_id).execute()

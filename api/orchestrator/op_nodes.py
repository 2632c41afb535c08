"""Operations that change a cluster's nodes: resize and replace, run by the executor.

Both write what they want in the registry and wait for the framework to make it so
(api/framework/changes.py), then run the product's playbook. Their phase is kept in the
operation's result, so a resumed operation carries on where the registry says it is.

resize:  reshape (new nodes: rows without a host; leaving nodes: `draining`; services,
         options and document as the template renders them with the new options)
         -> scale in: tag `scale_in`, with the leaving nodes in group `bdp_removing` and out
            of every service group, so the product drains them and configures the rest
            without them; then `removing` (the framework removes them)
         -> the framework places and starts the new nodes (a node that cannot be placed or
            started rolls the resize back)
         -> scale out: tags `scale_out,status` in one run (configure, then check), the new
            nodes in group `bdp_adding`; tag `status` is retried if that check fails
         -> (scale in) tag `status` until it passes.
replace: `replacing` (the framework recreates the node: same name and addresses, same
         disks on a live host) -> tag `start` so it rejoins -> tag `status`.
"""
from __future__ import annotations

from peewee import JOIN

from api.clusters import registration
from api.clusters import resize as reshaping
from api.core import status as st
from api.core.errors import DomainError
from api.core.models import Host, Node
from api.core.status import NodeStatus


def _nodes(cluster_id: int, names: list[str]) -> dict[str, Node]:
    return {n.name: n for n in Node.select(Node, Host).join(Host, JOIN.LEFT_OUTER)
            .where((Node.cluster == cluster_id) & Node.name.in_(names))}


def _gone(nodes: dict[str, Node], name: str) -> bool:
    """Removed from the cluster: its rows are gone, or it waits on a lost host for the
    rest (its container, data, disks, addresses) to go when the host answers again."""
    node = nodes.get(name)
    return node is None or (node.status == NodeStatus.REMOVING and node.host_id is not None
                            and node.host.lost_since is not None)


def _node_wait(ex) -> float:
    return ex.settings.scheduling_timeout + ex.settings.start_timeout + 60


def _wait_nodes(ex, job, added: list[str], removed: list[str]) -> str | None:
    """Wait until the added nodes run and the removed ones are gone; the first failure."""
    def settled():
        now = _nodes(job.cluster_id, added + removed)
        failed = [n for n in added if n in now and now[n].status == NodeStatus.FAILED]
        if failed:
            return f"node {failed[0]}: {now[failed[0]].reason}"
        if all(n in now and now[n].status == NodeStatus.RUNNING for n in added) and \
                all(_gone(now, n) for n in removed):
            return "ok"
        return None
    ex.platform.wake("framework")
    answer = ex.wait(job, settled, _node_wait(ex), "the framework changes the nodes")
    if answer is None:
        return f"the nodes did not settle within {_node_wait(ex):g}s"
    return None if answer == "ok" else answer


def resize(ex, job, resumed: bool) -> None:
    state = job.result or {}
    if "added" not in state:
        with ex.cluster_lease(job) as cluster:
            before = dict(cluster.options or {})
            try:
                plan = reshaping.plan(cluster, job.params["options"], ex.settings.max_nodes)
            except DomainError as exc:  # e.g. the product changed since it was queued
                return ex.fail(job, exc.message)
            # The new shape and the operation's phase in one transaction: a resize resumed
            # after a kill finds both or neither.
            with registration.write_transaction():
                reshaping.reshape(cluster, plan, drain=True)
                state = ex.save(job, added=plan.added, removed=plan.removed, before=before, phase="drain")
            st.record(cluster.id, "operations", f"resize #{job.id}: adding {plan.added or 'no node'}, "
                      f"removing {plan.removed or 'no node'}")
    added, removed = state["added"], state["removed"]
    if state["phase"] == "drain":
        if removed:
            with ex.cluster_lease(job) as cluster:
                result = ex.playbook(job, cluster, "scale_in", 20, {"bdp_removing": removed})
                if not result.ok:
                    _roll_back(ex, job, state, added=[])
                    return ex.fail(job, f"scale-in refused or failed, nothing removed: {result.reason}",
                                   {**state, "phase": "rolled back"})
            Node.update(status=NodeStatus.REMOVING).where(
                (Node.cluster == job.cluster_id) & Node.name.in_(removed)).execute()
        state = ex.save(job, phase="nodes")
    if state["phase"] == "nodes":
        problem = _wait_nodes(ex, job, added, removed)
        if problem:
            _roll_back(ex, job, state, added=added)
            return ex.fail(job, f"resize rolled back: {problem}", {**state, "phase": "rolled back"})
        state = ex.save(job, phase="configure")
    with ex.cluster_lease(job) as cluster:
        result = None
        if added and state["phase"] == "configure":
            # One run configures the new nodes and checks the cluster (tag status: its plays
            # come after the others); a check that fails only because it is early is retried.
            # A product whose status plays run on `{{ bdp_check_hosts | default('all') }}`
            # checks only the new nodes here (the others passed before and took part in
            # the scale_out run); the status retries check everyone.
            result = ex.playbook(job, cluster, "scale_out,status", 60, {"bdp_adding": added},
                                 {"bdp_check_hosts": "bdp_adding"})
            if not result.ok:
                configured = result
                ex.save(job, phase="check")
                result = ex.until_ready(job, cluster, 85)
                if not result.ok:
                    return ex.fail(job, f"the new nodes run but are not configured: {configured.reason}", state)
        if result is None:
            ex.save(job, phase="check")
            result = ex.until_ready(job, cluster, 85)
    if not result.ok:
        return ex.fail(job, f"resized, but the status check fails: {result.reason}", state)
    ex.succeed(job, {**ex.save(job, phase="done"), "run": result.run.id},
               f"{len(added)} node(s) added, {len(removed)} removed")


def _roll_back(ex, job, state: dict, added: list[str]) -> None:
    """The registry as it was before the resize: leaving nodes stay, new ones go."""
    cluster = ex.check(job)
    plan = reshaping.plan(cluster, state["before"], ex.settings.max_nodes, check_allowed=False)
    reshaping.reshape(cluster, plan, drain=False)
    if added:
        Node.update(status=NodeStatus.REMOVING).where(
            (Node.cluster == job.cluster_id) & Node.name.in_(added)).execute()
        _wait_nodes(ex, job, [], added)


def replace(ex, job, resumed: bool) -> None:
    names = job.params["nodes"]
    state = job.result or {}
    if not state.get("phase"):
        Node.update(status=NodeStatus.REPLACING, reason="being replaced").where(
            (Node.cluster == job.cluster_id) & Node.name.in_(names)
            & (Node.status != NodeStatus.REMOVING)).execute()
        st.record(job.cluster_id, "operations", f"replace #{job.id}: recreating {', '.join(names)}")
        state = ex.save(job, phase="nodes", nodes=names)
    if state["phase"] == "nodes":
        problem = _wait_nodes(ex, job, names, [])
        if problem:
            return ex.fail(job, f"replace: {problem}", state)
        state = ex.save(job, phase="configure")
    with ex.cluster_lease(job) as cluster:
        result = ex.playbook(job, cluster, "start", 50)
        if not result.ok:
            return ex.fail(job, f"the node(s) run again but did not rejoin: {result.reason}", state)
        result = ex.until_ready(job, cluster, 85)
    if not result.ok:
        return ex.fail(job, f"replaced, but the status check fails: {result.reason}", state)
    ex.succeed(job, {**ex.save(job, phase="done"), "run": result.run.id}, f"{', '.join(names)} replaced")

"""Recovery: what a host's return means for its nodes, and every cluster's health.

Run by the survey on every pass (level-triggered, so a framework restarted meanwhile
carries on), over the hosts that answer:
* `readopt`: a `lost` node whose host is back runs again if its container does (it is
  adopted: running, reason cleared) and is `failed` otherwise;
* `clean_pending`: a destroyed cluster's node whose host was lost at the destroy still
  holds its container, disk data and addresses: they go now, and only now are the disks
  and addresses given back (so nothing is handed out while the old container may still
  use it);
* `reap_strays`: a container of a live cluster on a registered host that answers, whose
  node is no longer there (replaced onto another host while this one was lost), is
  removed: it would answer on the node's addresses;
* `release_left_disks`: the disks such a node held there are still held by it (nothing
  handed out while the old container may use them): their data is deleted on the host
  and they are given back;
* `refresh_health`: a cluster running (scheduled or later) is `healthy` when every node
  runs and `degraded` otherwise, with each failed or lost node and why; `unknown` before
  and after.
"""
from __future__ import annotations

import logging

from peewee import JOIN

from api.core import status as st
from api.core.models import Address, Cluster, Disk, Host, Interface, Node, NodeDisk
from api.core.status import Health, NodeStatus
from api.engines.base import ContainerState
from api.framework.launch import forget_neighbours
from api.infra import disk as disks
from api.infra import network

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"


def _answering(silent: set[str]):
    """Nodes on a registered or found host that is not lost and answered the last survey."""
    return Host.lost_since.is_null() & Host.name.not_in(list(silent) or [""])


def readopt(engine, states, silent: set[str]) -> bool:
    alive = {(s.cluster_id, s.name) for s in states if s.state in ContainerState.ALIVE}
    rows = list(Node.select(Node, Host).join(Host).where(
        (Node.status == NodeStatus.LOST) & _answering(silent)))
    for node in rows:
        if (node.cluster_id, node.name) in alive:
            if Node.update(status=NodeStatus.RUNNING, reason="").where(
                    (Node.id == node.id) & (Node.status == NodeStatus.LOST)).execute():
                st.record(node.cluster_id, COMPONENT, f"node {node.name} runs again on host "
                          f"{node.host.name} (its container was adopted)")
        else:
            reason = (f"node {node.name}'s container is gone: its host {node.host.name} came "
                      "back without it")
            if Node.update(status=NodeStatus.FAILED, reason=reason).where(
                    (Node.id == node.id) & (Node.status == NodeStatus.LOST)).execute():
                st.record(node.cluster_id, COMPONENT, reason, level="error")
                st.fail(node.cluster_id, COMPONENT, reason, expect=st.FAIL_ON_DEAD_NODE)
    return bool(rows)


def pending_nodes(silent: set[str] | None = None) -> list[Node]:
    """Destroyed nodes that still hold disks or addresses (their host was away)."""
    holding = (Node.select(Node.id).join(Interface, on=(Interface.node == Node.id))
               .join(Address, on=(Address.interface == Interface.id)))
    with_disks = Disk.select(Disk.node).where(Disk.node.is_null(False))
    query = (Node.select(Node, Host, Cluster).join(Host, JOIN.LEFT_OUTER).switch(Node).join(Cluster)
             .where((Node.status == NodeStatus.DESTROYED)
                    & (Node.id.in_(holding) | Node.id.in_(with_disks))))
    if silent is not None:
        query = query.where(_answering(silent))
    return list(query)


def clean_pending(engine, silent: set[str]) -> bool:
    """Remove what destroyed clusters left on hosts that were away, then give it back."""
    done = False
    for node in pending_nodes(silent):
        cluster = node.cluster
        try:
            engine.remove_node(cluster.id, node.name)
            paths = disks.paths_of(cluster, [node.id])
            for host, where in paths.items():
                engine.clean_disks(host, where)
        except Exception as exc:  # the host went away again: next pass
            log.warning("cleaning up node %s of %s: %s", node.name, cluster.dn, exc)
            continue
        with network.write_transaction():
            addresses = network.release_nodes([node.id])
            freed, _ = disks.release_nodes(cluster, [node.id])
        st.record(cluster.id, COMPONENT, f"node {node.name} cleaned up on host "
                  f"{node.host.name if node.host_id else '?'} now that it answers: container "
                  f"removed, {addresses} address(es) and {freed} disk(s) released")
        done = True
    return done


def reap_strays(engine, states, silent: set[str]) -> bool:
    """Remove containers on registered hosts that answer whose node lives elsewhere now."""
    answering = {h.name for h in Host.select(Host.name).where(
        (Host.url != "") & Host.lost_since.is_null())} - silent
    mine = [s for s in states if s.cluster_id is not None and s.host in answering]
    if not mine:
        return False
    # Where each node is: (host name, whether that host is registered); (None, True)
    # for a node on no host.
    where = {(n.cluster_id, n.name): (n.host.name, bool(n.host.url)) if n.host_id is not None
             else (None, True)
             for n in Node.select(Node, Host).join(Host, JOIN.LEFT_OUTER).where(Node.cluster.in_({s.cluster_id for s in mine}))}
    live = {c.id for c in Cluster.select(Cluster.id).where(
        Cluster.id.in_({s.cluster_id for s in mine}) & (Cluster.status != st.DESTROYED))}
    reaped = False
    for state in mine:
        key = (state.cluster_id, state.name)
        host, registered = where.get(key, ("", True))
        # Left alone: a destroyed cluster's (reap_orphans' work), a node's own, and one
        # whose node is on the embedded engine (its daemon may also be registered by its
        # socket, and report it under that name).
        if state.cluster_id not in live or host == state.host or not registered:
            continue
        try:
            engine.reap(state)
        except Exception as exc:  # the host went away again: next pass
            log.warning("removing stray container of node %s on host %s: %s", state.name, state.host, exc)
            continue
        # It had the addresses its node has now: while it was back it may have answered
        # for them, and the platform would still send to it.
        forget_neighbours(i.address for i in Interface.select(Interface.address).join(Node).where(
            (Node.cluster == state.cluster_id) & (Node.name == state.name)))
        st.record(state.cluster_id, COMPONENT, f"host {state.host}: the old container of node "
                  f"{state.name} was removed (the node "
                  + (f"runs on host {host} now)" if host else "is no longer there)"))
        reaped = True
    return reaped


def release_left_disks(engine, silent: set[str]) -> bool:
    """Give back the disks a node left behind on a host that was lost (it runs elsewhere
    now), once that host answers: their data deleted there first."""
    rows = list(Disk.select(Disk, Host, Node, Cluster).join(Host).switch(Disk)
                .join(Node, on=(Disk.node == Node.id)).join(Cluster)
                .where((Node.host.is_null() | (Node.host != Disk.host)) & Host.lost_since.is_null()
                       & Host.name.not_in(list(silent) or [""])))
    done = False
    for disk in rows:
        node, cluster = disk.node, disk.node.cluster
        try:
            engine.clean_disks(disk.host.name, [str(disks.origin_dir(disk, cluster, node.name).parent)])
        except Exception as exc:  # the host went away again: next pass
            log.warning("cleaning disk %s on host %s: %s", disk.name, disk.host.name, exc)
            continue
        with network.write_transaction():
            Disk.update(node=None).where((Disk.id == disk.id) & (Disk.node == node.id)).execute()
            NodeDisk.update(disk=None).where(NodeDisk.disk == disk.id).execute()
        st.record(cluster.id, COMPONENT, f"disk {disk.name} of host {disk.host.name}, left by node "
                  f"{node.name} when that host was lost, was cleaned and given back")
        done = True
    return done


def problems_of(nodes) -> list[dict]:
    return [{"node": n.name, "status": n.status, "reason": n.reason} for n in nodes
            if n.status in NodeStatus.UNHEALTHY]


def refresh_health() -> bool:
    """Set every cluster's health from its nodes; an event when it changes."""
    changed = False
    bad: dict[int, list] = {}
    for node in (Node.select(Node.cluster, Node.name, Node.status, Node.reason)
                 .where(Node.status.in_(NodeStatus.UNHEALTHY)).order_by(Node.id)):
        bad.setdefault(node.cluster_id, []).append(node)
    for cluster in Cluster.select(Cluster.id, Cluster.status, Cluster.health, Cluster.problems).where(
            Cluster.status.in_(st.WATCHED) | (Cluster.health != Health.UNKNOWN)):
        if cluster.status in st.WATCHED:
            problems = problems_of(bad.get(cluster.id, []))
            health = Health.DEGRADED if problems else Health.HEALTHY
        else:
            health, problems = Health.UNKNOWN, []
        if (health, problems) == (cluster.health, cluster.problems):
            continue
        Cluster.update(health=health, problems=problems).where(Cluster.id == cluster.id).execute()
        changed = True
        if health == Health.DEGRADED:
            st.record(cluster.id, COMPONENT, "health degraded: " + "; ".join(
                f"node {p['node']} {p['status']}" for p in problems), level="warning")
        elif health == Health.HEALTHY and cluster.health == Health.DEGRADED:
            st.record(cluster.id, COMPONENT, "health healthy: every node runs")
    return changed

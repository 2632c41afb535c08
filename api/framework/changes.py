"""Day-2 node changes: what operations ask of the framework, made real (issue 12).

An operation (api/orchestrator/op_nodes.py) writes node statuses in the registry; on a
cluster at rest the framework, holding the cluster's lease, acts on them:

* `removing`: remove the container, delete its disks' data on its host (through the
  engine), give back its disks and addresses (a tenant segment nothing uses any more
  goes with them), delete the node's rows. On a host that is away (lost, or silent) the
  node keeps its row, container, data, disks and addresses until the host answers
  again, as a destroyed cluster's node does (teardown.py): nothing is handed out while
  the old container may still use it;
* `replacing`: remove the container and start it again with the same name and
  addresses: with its disks on its own host while that host is alive and active; on a
  lost or drained host it is placed afresh elsewhere with new disks (a drained host
  takes nothing new). A lost host's container and data are cleaned up when it answers
  again (recovery.reap_strays, recovery.release_left_disks);
* `queued` (a node a resize added, or a replaced one): place it if it has no host
  (allocation.place_cluster: spread, anti-affinity with the cluster's other nodes, the
  tenant's segments), send its image to its host, make sure of its segments there, start
  it and wait until it answers -> `running`, or `failed` with the reason (the operation
  rolls back or fails; the cluster itself never fails here).

Level-triggered like the rest of the framework: killed half way, the next pass finds
the same statuses and does the rest.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import wait as wait_futures

from peewee import JOIN

from api.core import lease
from api.core import status as st
from api.core.models import Address, Cluster, Host, Interface, Lease, Network, Node, NodeDisk, Segment
from api.core.status import NodeStatus
from api.engines.base import HostUnreachable
from api.framework import allocation
from api.framework.launch import forget_neighbours
from api.framework.placement import Unplaceable
from api.infra import disk as disks
from api.infra import host as hosts
from api.infra import network, segments

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
WANTED = (NodeStatus.QUEUED, NodeStatus.REMOVING, NodeStatus.REPLACING)


def pending(owner: str) -> list[int]:
    """Clusters at rest with node changes to make, that nobody else is working on (a node
    to remove from a lost host waits for the host, without the cluster being claimed)."""
    lost = Host.select(Host.id).where(Host.lost_since.is_null(False))
    changing = Node.select(Node.cluster).where(
        Node.status.in_((NodeStatus.QUEUED, NodeStatus.REPLACING))
        | ((Node.status == NodeStatus.REMOVING) & (Node.host.is_null() | Node.host.not_in(lost))))
    query = (Cluster.select(Cluster.id)
             .join(Lease, JOIN.LEFT_OUTER, on=(Lease.cluster == Cluster.id))
             .where(Cluster.status.in_(st.AT_REST) & Cluster.id.in_(changing)
                    & (Lease.id.is_null() | lease.free_or_mine(owner)))
             .order_by(Cluster.id))
    return [row.id for row in query]


def _lost(node: Node) -> bool:
    return node.host_id is not None and node.host.lost_since is not None


def _take_down(framework, cluster: Cluster, going: list[Node]) -> set[str]:
    """Remove the containers of the leaving and replaced nodes whose host answers, in
    parallel; returns the names of those taken down (or that have no host)."""
    silent = framework.engine.silent_hosts()
    here = [n for n in going if n.host_id is None or (not _lost(n) and n.host.name not in silent)]
    futures = {n.name: framework._starts.submit(framework.engine.remove_node, cluster.id, n.name)
               for n in here if n.host_id is not None}
    down = {n.name for n in here if n.host_id is None}
    for name, future in futures.items():
        try:
            future.result()
            down.add(name)
        except HostUnreachable:  # its host went silent meanwhile: a later pass
            pass
    return down


def _clean_data(engine, cluster: Cluster, node: Node) -> bool:
    """Delete the node's disk data on the hosts of its disks; False if one is away."""
    try:
        for host, paths in disks.paths_of(cluster, [node.id]).items():
            engine.clean_disks(host, paths)
    except HostUnreachable:
        return False
    return True


def _remove(engine, cluster: Cluster, node: Node, down: bool) -> None:
    if not down:
        if _lost(node):
            reason = (f"leaving the cluster: its container, data, disks and addresses go when "
                      f"host {node.host.name} answers again")
            if Node.update(reason=reason).where((Node.id == node.id) & (Node.reason != reason)).execute():
                st.record(cluster.id, COMPONENT, f"node {node.name} {reason}", level="warning")
        return
    if not _clean_data(engine, cluster, node):
        return
    with network.write_transaction():
        addresses = network.release_nodes([node.id])
        freed, _ = disks.release_nodes(cluster, [node.id])
        Node.delete().where(Node.id == node.id).execute()
    st.record(cluster.id, COMPONENT, f"node {node.name} removed: its container, "
              f"{addresses} address(es) and {freed} disk(s) given back")


def _recreate(engine, cluster: Cluster, node: Node, down: bool) -> None:
    lost = _lost(node)
    if not down and not lost:
        return  # its host is silent, not lost (yet): a later pass
    moving = lost or (node.host_id is not None and hosts.host_state(node.host) != hosts.ACTIVE)
    if moving and not lost and not _clean_data(engine, cluster, node):
        return
    with network.write_transaction():
        if moving and lost:
            # The old disks stay held (Disk.node) until their host answers and their data
            # is deleted (recovery.release_left_disks); the node gets new ones.
            NodeDisk.update(disk=None).where(NodeDisk.node == node.id).execute()
        elif moving:
            disks.release_nodes(cluster, [node.id])
        Node.update(status=NodeStatus.QUEUED, reason="", container_id="",
                    **({"host": None} if moving else {})).where(Node.id == node.id).execute()
    where = node.host.name if node.host_id is not None else "?"
    st.record(cluster.id, COMPONENT, f"node {node.name}: container removed, starting it again"
              + (f" on another host (host {where} is {hosts.host_state(node.host)})" if moving
                 else " with the same disks"))


def apply(framework, cluster: Cluster) -> bool:
    """Make the node changes of one claimed cluster; True if anything was done."""
    nodes = list(Node.select(Node, Host).join(Host, JOIN.LEFT_OUTER)
                 .where((Node.cluster == cluster.id) & Node.status.in_(WANTED)))
    going = [n for n in nodes if n.status in (NodeStatus.REMOVING, NodeStatus.REPLACING)]
    down = _take_down(framework, cluster, going)
    for node in going:
        if node.status == NodeStatus.REMOVING:
            _remove(framework.engine, cluster, node, node.name in down)
        else:
            _recreate(framework.engine, cluster, node, node.name in down)
    start = list(Node.select().where((Node.cluster == cluster.id) & (Node.status == NodeStatus.QUEUED)))
    if start:
        _start(framework, cluster, start)
    framework.platform.wake("operations")
    return bool(nodes)


def _readdress(nodes: list[Node], vni_from: int) -> None:
    """A node replaced onto another kind of host (the embedded engine's bridge segments
    vs registered hosts' VXLAN ones) keeps no address of the old kind: it gets one from
    its tenant's segment of the new kind."""
    rows = list(Address.select(Address, Segment, Interface, Network, Node, Host)
                .join(Segment).switch(Address).join(Interface).join(Network)
                .switch(Interface).join(Node).join(Host)
                .where(Interface.node.in_([n.id for n in nodes])))
    for addr in rows:
        iface = addr.interface
        kind = segments.kind_for(iface.network, iface.node.host)
        if addr.segment.kind == kind:
            continue
        with network.write_transaction():
            Address.delete().where(Address.id == addr.id).execute()
            network.allocate(iface, kind, vni_from)
            segments.release_empty()
        st.record(iface.node.cluster_id, COMPONENT, f"node {iface.node.name} {iface.device}: new "
                  f"address {iface.address} (its {addr.segment.kind} segment is not on host "
                  f"{iface.node.host.name})")


def _place(framework, cluster: Cluster, nodes: list[Node]) -> list[Node]:
    """Place the nodes without a host; returns the nodes that can start now."""
    unplaced = [n for n in nodes if n.host_id is None]
    if unplaced:
        vni_from = framework.settings.vni_base
        try:
            plan = allocation.place_cluster(cluster, unplaced, vni_from=vni_from)
        except Unplaceable as exc:
            reason = f"cannot be placed: {exc}"
            Node.update(status=NodeStatus.FAILED, reason=reason).where(
                Node.id.in_([n.id for n in unplaced])).execute()
            st.record(cluster.id, COMPONENT, f"node(s) {', '.join(n.name for n in unplaced)} {reason}",
                      level="error")
        else:
            _readdress(unplaced, vni_from)
            st.record(cluster.id, COMPONENT, "placed " + ", ".join(
                f"{n.name} on {plan[n.name].host}" for n in unplaced))
    return list(Node.select(Node, Host).join(Host).where(
        Node.id.in_([n.id for n in nodes]) & (Node.status == NodeStatus.QUEUED)))


def _start(framework, cluster: Cluster, nodes: list[Node]) -> None:
    nodes = _place(framework, cluster, nodes)
    if not nodes:
        return
    launcher = framework.launcher
    try:
        for image in sorted({n.docker_image for n in nodes}):
            launcher.ensure_image(cluster, image)
        members: dict = {}
        specs = [launcher.spec(cluster, n, members) for n in nodes]
        launcher.get_ready(cluster, nodes, specs)  # images on their hosts, their segments
    except Exception as exc:  # no image, no disk, no image on the host: they cannot start
        reason = f"cannot start: {exc}"
        Node.update(status=NodeStatus.FAILED, reason=reason).where(
            Node.id.in_([n.id for n in nodes])).execute()
        st.record(cluster.id, COMPONENT, f"node(s) {', '.join(n.name for n in nodes)} {reason}",
                  level="error")
        return
    forget_neighbours(i.address for i in Interface.select(Interface.address).where(
        Interface.node.in_([n.id for n in nodes])))
    deadline = time.monotonic() + framework.settings.start_timeout
    abort = threading.Event()
    futures = {framework._starts.submit(launcher.start_node, cluster, n, spec, deadline, abort,
                                        st.AT_REST): n for n, spec in zip(nodes, specs)}
    wait_futures(list(futures))
    for future, node in futures.items():
        try:
            reason = future.result()
        except Exception as exc:
            reason = f"node {node.name} could not start: {exc}"
        if reason is not None:
            Node.update(status=NodeStatus.FAILED, reason=reason).where(Node.id == node.id).execute()
            st.record(cluster.id, COMPONENT, reason, level="error")
        else:
            st.record(cluster.id, COMPONENT, f"node {node.name} runs on host {node.host.name}")

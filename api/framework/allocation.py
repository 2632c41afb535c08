"""Allocation: a cluster's placement made real in the registry, all or nothing.

Offers are read, the plan made (placement.py) and every node's disks and addresses
taken in one write transaction, so two clusters placed at once (threads here, or
another framework process) cannot both spend the same free cpus, memory or disks,
and a cluster that does not fit holds nothing afterwards.
"""
from __future__ import annotations

import re
from contextlib import contextmanager

from peewee import SqliteDatabase

from api.core.auth import sees_cluster
from api.core.models import Cluster, Disk, Node, NodeDisk, db
from api.core.status import NodeStatus
from api.framework import placement
from api.framework.placement import Unplaceable
from api.framework.request import NodeRequest
from api.infra import disk as disks
from api.infra import host as hosts
from api.infra import network
from api.infra.host import Offer

PLACEMENT_LOCK = 0x62647002  # PostgreSQL advisory lock: one placement at a time


def device_key(device: str):
    """eth2 before eth10."""
    match = re.match(r"(\D*)(\d*)$", device)
    return (match.group(1), int(match.group(2) or 0)) if match else (device, 0)


@contextmanager
def placement_transaction():
    """The transaction a placement runs in. SQLite's IMMEDIATE transaction already lets
    one writer in at a time; on PostgreSQL an advisory lock does the same for placements."""
    with network.write_transaction():
        if not isinstance(db.obj, SqliteDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PLACEMENT_LOCK,))
        yield


def requests(nodes: list[Node]) -> list[NodeRequest]:
    """What each node asks of a host, from its rows."""
    origins: dict[int, list[str | None]] = {n.id: [] for n in nodes}
    for nd in NodeDisk.select(NodeDisk.node, NodeDisk.origin).where(
            NodeDisk.node.in_([n.id for n in nodes])):
        origins[nd.node_id].append(nd.origin)
    return [NodeRequest(name=n.name, cpu=n.cpu, mem=n.mem, disks=len(origins[n.id]),
                        named=[o for o in origins[n.id] if o is not None],
                        required_host=n.required_host or "", node_id=n.id) for n in nodes]


def disk_holder(cluster: Cluster):
    """How placement words a named disk someone holds: another cluster is named only
    to an owner who may see it (the message becomes an event the owner reads)."""
    def holder(offer: Offer, name: str) -> str:
        disk = Disk.get_or_none((Disk.host == offer.host_id) & (Disk.name == name))
        owner = disk.node.cluster if disk is not None and disk.node_id is not None else None
        if owner is not None and owner.id == cluster.id:
            return f"is used on host {offer.host} by node {disk.node.name} of this cluster"
        if owner is not None and sees_cluster(cluster.user, owner.dn):
            return f"is used on host {offer.host} by {owner.dn}"
        return f"is in use by another cluster on host {offer.host}"
    return holder


def place_cluster(cluster: Cluster, nodes: list[Node], strategy: str = placement.SPREAD) -> dict[str, Offer]:
    """Place `nodes` and allocate their disks and addresses; returns each node's offer
    by name. Raises Unplaceable, having taken nothing."""
    wanted = requests(nodes)
    try:
        with placement_transaction():
            plan = placement.place(wanted, hosts.offers(), strategy, holder=disk_holder(cluster))
            by_name = {n.name: n for n in nodes}
            for req in wanted:  # named disks first: an unnamed one must not take them
                if req.named:
                    disks.allocate(by_name[req.name], plan[req.name].host_id, named_only=True)
            for req in wanted:
                node = by_name[req.name]
                disks.allocate(node, plan[req.name].host_id)
                for iface in sorted(node.interfaces, key=lambda i: device_key(i.device)):
                    try:
                        network.allocate(iface)
                    except network.NetworkFull as exc:
                        raise Unplaceable(f"node {node.name} needs an address for "
                                          f"{iface.device}: {exc}") from None
                Node.update(host=plan[req.name].host_id, status=NodeStatus.QUEUED, reason="").where(
                    Node.id == node.id).execute()
    except disks.DiskTaken as exc:  # taken by another scheduler meanwhile
        raise Unplaceable(str(exc)) from None
    return plan

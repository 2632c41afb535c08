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

from api.clusters.queries import cluster_document
from api.core.auth import sees_cluster
from api.core.models import Cluster, Disk, Host, Interface, Network, Node, NodeDisk, db
from api.core.status import NodeStatus
from api.framework import placement
from api.framework.placement import Unplaceable
from api.framework.request import NodeRequest
from api.infra import disk as disks
from api.infra import host as hosts
from api.infra import network, segments
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


def requests(nodes: list[Node], anti_affinity: list[str] | None = None) -> list[NodeRequest]:
    """What each node asks of a host, from its rows (and the template's tag patterns)."""
    origins: dict[int, list[str | None]] = {n.id: [] for n in nodes}
    for nd in NodeDisk.select(NodeDisk.node, NodeDisk.origin).where(
            NodeDisk.node.in_([n.id for n in nodes])):
        origins[nd.node_id].append(nd.origin)
    return [NodeRequest(name=n.name, cpu=n.cpu, mem=n.mem, disks=len(origins[n.id]),
                        named=[o for o in origins[n.id] if o is not None],
                        required_host=n.required_host or "", node_id=n.id,
                        groups=placement.groups_of(n.tags or [], anti_affinity or []),
                        tags=list(n.tags or []))
            for n in nodes]


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


def cluster_offers(cluster: Cluster, placed: list[Node], patterns: list[str]) -> list[Offer]:
    """Every host's offer, knowing where the cluster's nodes placed earlier went (their
    anti-affinity groups, and how many each host holds for spreading)."""
    offers = hosts.offers()
    by_host = {o.host_id: o for o in offers}
    for node in placed:
        offer = by_host.get(node.host_id)
        if offer is not None:
            offer.placed += 1
            for tag in node.tags or []:
                offer.tagged[tag] = offer.tagged.get(tag, 0) + 1
            for group in placement.groups_of(node.tags or [], patterns):
                offer.groups[group] = node.name
    return offers


def place_cluster(cluster: Cluster, nodes: list[Node], strategy: str | None = None,
                  vni_from: int = 0) -> dict[str, Offer]:
    """Place `nodes` and allocate their disks and addresses; returns each node's offer
    by name. The template's `placement` gives the strategy (spread unless it asks for
    binpack) and the anti-affinity tag patterns (hard with two hosts or more, counting
    drained and lost ones; waived on a platform of one host). Addresses come from each tenant's segment
    for the kind of host a node goes to (VXLAN identifiers from `vni_from` on). Raises
    Unplaceable, having taken nothing."""
    rules = cluster_document(cluster.id).get("placement") or {}
    strategy = strategy or rules.get("strategy") or placement.SPREAD
    patterns = list(rules.get("anti_affinity") or [])
    if len(hosts.offers()) < 2:  # one host in all (the embedded engine alone): nothing to
        patterns = []  # keep apart from, and waiting would be for ever
    wanted = requests(nodes, patterns)
    ids = [n.id for n in nodes]
    placed = list(Node.select().where((Node.cluster == cluster) & Node.host.is_null(False)
                                      & Node.id.not_in(ids) & Node.status.in_(NodeStatus.HOLDING)))
    try:
        with placement_transaction():
            plan = placement.place(wanted, cluster_offers(cluster, placed, patterns), strategy,
                                   holder=disk_holder(cluster))
            by_name = {n.name: n for n in nodes}
            for req in wanted:  # named disks first: an unnamed one must not take them
                if req.named:
                    disks.allocate(by_name[req.name], plan[req.name].host_id, named_only=True)
            host_rows = {h.id: h for h in Host.select().where(
                Host.id.in_([o.host_id for o in plan.values()]))}
            interfaces: dict[int, list[Interface]] = {}
            for iface in Interface.select(Interface, Network).join(Network).where(
                    Interface.node.in_(list(by_name[r.name].id for r in wanted))):
                interfaces.setdefault(iface.node_id, []).append(iface)
            items, free = [], {}
            for req in wanted:
                node = by_name[req.name]
                host = host_rows[plan[req.name].host_id]
                if host.id not in free:
                    free[host.id] = disks.free_disks(host.id)
                disks.allocate(node, host.id, free=free[host.id])
                items += [(iface, segments.kind_for(iface.network, host)) for iface in
                          sorted(interfaces.get(node.id, []), key=lambda i: device_key(i.device))]
            try:
                network.allocate_all(items, cluster.user_id, vni_from)
            except network.NetworkFull as exc:
                where = exc.interface
                name = next(n.name for n in nodes if where is not None and n.id == where.node_id)
                raise Unplaceable(f"node {name} needs an address for {where.device}: {exc}") from None
            Node.update(status=NodeStatus.QUEUED, reason="").where(Node.id.in_(ids)).execute()
            for host_id in {o.host_id for o in plan.values()}:
                Node.update(host=host_id).where(Node.id.in_(
                    [by_name[name].id for name, o in plan.items() if o.host_id == host_id])).execute()
    except disks.DiskTaken as exc:  # taken by another scheduler meanwhile
        raise Unplaceable(str(exc)) from None
    return plan

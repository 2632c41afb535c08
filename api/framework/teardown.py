"""Taking a cluster's nodes down: what destroying a cluster and releasing a failed one
(release.py) share.

For every node whose host answers: its container is removed (in parallel), its disk data
deleted on its host through the engine, its addresses and disks given back. A node on a
host that is away (lost, or silent at the last look) keeps its container, data, disks and
addresses in the registry until the host answers again, so nothing is handed out while
the old container may still use it: recovery.clean_pending finishes a destroyed node, the
next release pass a failed cluster's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import JOIN

from api.core.models import Cluster, Disk, Host, Node
from api.engines.base import HostUnreachable
from api.infra import disk as disks
from api.infra import network


@dataclass
class TakenDown:
    removed: int = 0  # containers removed
    addresses: int = 0
    disks: int = 0
    here: list[int] = field(default_factory=list)  # ids of the nodes taken down
    away: set[str] = field(default_factory=set)  # names of the nodes left for their host's return
    away_hosts: set[str] = field(default_factory=set)

    def away_note(self, then: str) -> str:
        if not self.away:
            return ""
        return (f"; node(s) {', '.join(sorted(self.away))} on host(s) away "
                f"({', '.join(sorted(self.away_hosts)) or 'silent'}) are {then} when their "
                "host answers again")


def take_down(engine, cluster: Cluster, starts, mark) -> TakenDown:
    """Take down what can be now; `mark(done)` runs inside the transaction that gives the
    addresses and disks back (to set the nodes' statuses with it)."""
    rows = list(Node.select(Node, Host).join(Host, JOIN.LEFT_OUTER).where(Node.cluster == cluster))
    states = engine.list_nodes()
    silent = engine.silent_hosts()
    done = TakenDown()
    done.away_hosts = {n.host.name for n in rows if n.host_id is not None
                       and (n.host.lost_since is not None or n.host.name in silent)}
    done.away = {n.name for n in rows if n.host_id is not None and n.host.name in done.away_hosts}
    # Placed nodes, and any container the engine has of the cluster (a node whose host was
    # cleared by an earlier release has nothing left to remove).
    names = ({n.name for n in rows if n.host_id is not None}
             | {s.name for s in states if s.cluster_id == cluster.id}) - done.away
    futures = {name: starts.submit(engine.remove_node, cluster.id, name) for name in sorted(names)}
    for name, future in futures.items():
        try:
            future.result()
            done.removed += 1
        except HostUnreachable:  # its host went silent meanwhile: finished on its return
            done.away.add(name)
    here = [n for n in rows if n.name not in done.away]
    for host, paths in disks.paths_of(cluster, [n.id for n in here]).items():
        try:
            engine.clean_disks(host, paths)
        except HostUnreachable:  # its nodes keep their disks (and what else they hold)
            done.away |= _holding_disks_on(here, host)
            done.away_hosts.add(host)
    done.here = [n.id for n in rows if n.name not in done.away]
    with network.write_transaction():
        done.addresses = network.release_nodes(done.here)
        done.disks, _ = disks.release_nodes(cluster, done.here)
        mark(done)
    return done


def _holding_disks_on(nodes: list[Node], host: str) -> set[str]:
    """Names of the nodes with a disk on `host`: placed there, or replaced onto another
    host while it was lost, their old disks still held (recovery.release_left_disks)."""
    ids = [n.id for n in nodes]
    held = {d.node_id for d in Disk.select(Disk.node).join(Host).where(
        (Host.name == host) & Disk.node.in_(ids or [0]))}
    return {n.name for n in nodes if n.id in held or (n.host_id and n.host.name == host)}

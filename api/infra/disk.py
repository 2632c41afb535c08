"""The disks service: each host's data disks, allocated whole to one node at a time.

Allocation is a conditional UPDATE (`... WHERE node IS NULL`): of two schedulers
racing for a disk exactly one sees its row change. A node's disk is served from an
origin directory of its own on the host disk, `<disk>/<cluster dn flattened>/<node>`,
bind-mounted at the destination its template names. The directories live on the host,
so the engine makes and deletes them there (release_* say which to delete where).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from api.core.auth import sees_cluster
from api.core.models import Cluster, Disk, Host, Node, NodeDisk


class DiskTaken(RuntimeError):
    """A disk placement counted on went to someone else meanwhile."""


def sync_host_disks(host: Host, disks: list[tuple[str, str]]) -> None:
    """Make the registry's disks of `host` match what the engine reports."""
    known = {d.name: d for d in Disk.select().where(Disk.host == host)}
    for name, path in disks:
        disk = known.get(name)
        if disk is None:
            Disk.insert(host=host, name=name, path=path).on_conflict_ignore().execute()
        elif disk.path != path:
            Disk.update(path=path).where(Disk.id == disk.id).execute()


def flatten_dn(dn: str) -> str:
    """The cluster's DN as one directory name, escaped so two DNs never share it
    (a plain "/" -> "_" would make alice_x/y and alice/x_y the same directory)."""
    return quote(dn, safe="")


def origin_dir(disk: Disk, cluster: Cluster, node_name: str) -> Path:
    return Path(disk.path) / flatten_dn(cluster.dn) / node_name


def free_disks(host_id: int) -> list[Disk]:
    return list(Disk.select().where((Disk.host == host_id) & Disk.node.is_null())
                .order_by(Disk.id))


def allocate(node: Node, host_id: int, named_only: bool = False,
             free: list[Disk] | None = None) -> list[NodeDisk]:
    """Give each of the node's requested disks a distinct free disk of its host: the
    host disk a template names (`origin`) exactly, the others any free one. With
    `named_only`, only the named ones (placement takes every node's named disks before
    any node's others, so an unnamed disk never takes a disk another node names). `free`:
    the host's free disks, when the caller places many nodes there (kept up to date).
    Raises DiskTaken when a disk is not to be had; the caller's transaction undoes it."""
    wanted = list(NodeDisk.select().where(NodeDisk.node == node).order_by(NodeDisk.name))
    for nd in sorted(wanted, key=lambda d: d.origin is None):
        if nd.disk_id is not None or (named_only and nd.origin is None):
            continue
        if nd.origin is not None:
            candidates = list(Disk.select().where((Disk.host == host_id) & (Disk.name == nd.origin)))
        else:
            candidates = list(free) if free is not None else free_disks(host_id)
        for disk in candidates:
            taken = Disk.update(node=node).where((Disk.id == disk.id) & Disk.node.is_null()).execute()
            if free is not None and disk in free:
                free.remove(disk)  # the caller's list of this host's free disks, kept true
            if taken:
                NodeDisk.update(disk=disk).where(NodeDisk.id == nd.id).execute()
                nd.disk = disk
                break
        else:
            what = f"disk {nd.origin}" if nd.origin is not None else "a free disk"
            raise DiskTaken(f"host has no {what} left for disk {nd.name} of node {node.name}")
    return wanted


def paths_of(cluster: Cluster, node_ids: list[int]) -> dict[str, list[str]]:
    """The origin directories of these nodes' disks, by host name (to delete there)."""
    out: dict[str, list[str]] = {}
    if node_ids:
        for disk in Disk.select(Disk, Host).join(Host).where(Disk.node.in_(node_ids)):
            out.setdefault(disk.host.name, []).append(str(Path(disk.path) / flatten_dn(cluster.dn)))
    return out


def release_nodes(cluster: Cluster, node_ids: list[int]) -> tuple[int, dict[str, list[str]]]:
    """Free the disks of these nodes of the cluster; returns how many, and the origin
    directories to delete on each host (by host name: the engine deletes them there)."""
    if not node_ids:
        return 0, {}
    freed, cleanup = 0, {}
    rows = Disk.select(Disk, Host).join(Host).where(Disk.node.in_(node_ids))
    for disk in rows:
        cleanup.setdefault(disk.host.name, []).append(str(Path(disk.path) / flatten_dn(cluster.dn)))
        freed += Disk.update(node=None).where(Disk.id == disk.id).execute()
    NodeDisk.update(disk=None).where(NodeDisk.node.in_(node_ids)).execute()
    return freed, cleanup


def release_cluster(cluster: Cluster) -> tuple[int, dict[str, list[str]]]:
    """release_nodes for every node of the cluster."""
    return release_nodes(cluster, [n.id for n in Node.select(Node.id).where(Node.cluster == cluster)])


def disk_view(disk: Disk, viewer=None) -> dict:
    """A host disk; its owner is named only to whoever may see that cluster."""
    out = {"name": disk.name, "path": disk.path, "type": disk.type,
           "status": "free" if disk.node_id is None else "used"}
    if disk.node_id is not None:
        node = disk.node
        if viewer is None or sees_cluster(viewer, node.cluster.dn):
            out["owner"] = {"cluster": node.cluster.dn, "node": node.name}
    return out

"""Hosts: what each engine host has in all, and what is still free on it.

Free = total minus the cpus and memory of the nodes placed there that still hold
them (every node not yet destroyed), and the disks no node owns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import fn

from api.core.models import Disk, Host, Node, utcnow
from api.core.status import NodeStatus
from api.infra import disk as disks


@dataclass
class Offer:
    """A host's free resources, as the scheduler sees them (the Mesos offer)."""
    host_id: int
    host: str
    cpus: float
    mem: int
    disks: int
    disk_names: list[str] = field(default_factory=list)  # the free ones
    all_disks: list[str] = field(default_factory=list)
    total_cpus: float = 0.0
    total_mem: int = 0
    state: str = "active"  # active | drain | lost
    state_reason: str = ""  # what a refused node is told ("draining", "lost 2 min ago")
    # Filled in by placement while it plans one cluster:
    claimed: dict[str, str] = field(default_factory=dict)  # named disk -> node
    groups: dict[str, str] = field(default_factory=dict)  # anti-affinity group -> node
    placed: int = 0  # nodes of the cluster planned here

    @property
    def total_disks(self) -> int:
        return len(self.all_disks)


def sync_hosts(engine) -> list[Host]:
    """Upsert the engine's hosts and their disks; hosts it no longer reports go inactive."""
    seen = []
    for info in engine.hosts():
        host = Host.get_or_none(Host.name == info.name)
        values = dict(engine=engine.name, address=info.address, cpus=info.cpus, mem=info.mem,
                      attributes=info.attributes, active=True, last_seen=utcnow())
        if host is None:
            Host.insert(name=info.name, **values).on_conflict_ignore().execute()
        else:
            Host.update(**values).where(Host.id == host.id).execute()
        host = Host.get(Host.name == info.name)
        disks.sync_host_disks(host, info.disks)
        seen.append(host)
    names = [h.name for h in seen]
    Host.update(active=False).where(Host.name.not_in(names) & (Host.engine == engine.name)).execute()
    return seen


def offers() -> list[Offer]:
    used = {row.host_id: (row.cpus or 0, row.mem or 0) for row in
            Node.select(Node.host, fn.SUM(Node.cpu).alias("cpus"), fn.SUM(Node.mem).alias("mem"))
            .where(Node.host.is_null(False) & Node.status.in_(NodeStatus.HOLDING)).group_by(Node.host)}
    result = []
    for host in Host.select().where(Host.active == True).order_by(Host.name):  # noqa: E712
        cpus, mem = used.get(host.id, (0, 0))
        rows = list(Disk.select(Disk.name, Disk.node).where(Disk.host == host).order_by(Disk.id))
        free = [d.name for d in rows if d.node_id is None]
        result.append(Offer(host.id, host.name, round(host.cpus - cpus, 3), int(host.mem - mem),
                            len(free), free, [d.name for d in rows], total_cpus=host.cpus,
                            total_mem=host.mem))
    return result


def host_view(host: Host, offer: Offer | None = None) -> dict:
    total = Disk.select().where(Disk.host == host).count()
    out = {"name": host.name, "engine": host.engine, "address": host.address,
           "cpus": host.cpus, "mem": host.mem, "disks": total, "active": host.active,
           "attributes": host.attributes}
    if offer is not None:
        out["free"] = {"cpus": offer.cpus, "mem": offer.mem, "disks": offer.disks}
    return out

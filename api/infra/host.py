"""Hosts: what each engine host has in all, what is still free on it, and its state.

Free = total minus the cpus and memory of the nodes placed there that still hold
them (every node not yet destroyed), and the disks no node owns. A host is `active`,
`drain` (the admin's: no new node) or `lost` (silent past BDP_HOST_TIMEOUT: no new
node, its nodes `lost`); registering, draining and removing are in host_registration.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import fn

from api.core.models import Disk, Host, Node, utcnow
from api.core.status import NodeStatus
from api.infra import disk as disks
from api.infra.network import write_transaction

ACTIVE, DRAIN, LOST = "active", "drain", "lost"
PLAIN_TCP_WARNING = ("plain tcp: anyone who can reach this address controls the host's "
                     "Docker engine; use it on a trusted network only, or register the host "
                     "with TLS client certificates")


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
    tagged: dict[str, int] = field(default_factory=dict)  # of those, how many carry each tag

    @property
    def total_disks(self) -> int:
        return len(self.all_disks)


def registered_hosts() -> bool:
    """Whether an admin registered any host (then the embedded engine takes no new node)."""
    return Host.select().where(Host.url != "").exists()


def sync_hosts(engine, infos=None, seen_at=None) -> list[Host]:
    """Record what the engine reports of its hosts (`infos`, default `engine.hosts()`):
    totals (an admin's override wins), last seen, disks of hosts the engine finds.
    Found hosts it no longer reports go inactive; registered ones stay (they become
    lost when silent too long: api/framework/host_monitor.py). The embedded host is
    inactive while hosts are registered. `seen_at`: when the engine was asked."""
    infos = engine.hosts() if infos is None else infos
    seen_at = seen_at or utcnow()
    # Asked first: the engine may have listed the embedded host just before an admin
    # registered one (a probe round under way), and it must not take nodes meanwhile.
    registered = registered_hosts()
    seen = []
    for info in infos:
        # One transaction a host: a launch checked against it meanwhile (another process,
        # on PostgreSQL) must never see a new host without its disks.
        with write_transaction():
            host = _record_host(engine, info, registered, seen_at)
        if host is not None:
            seen.append(host)
    names = [h.name for h in seen]
    found = (Host.url == "") & (Host.engine == engine.name)
    Host.update(active=False).where(found & Host.name.not_in(names)).execute()
    if registered_hosts():
        Host.update(active=False).where(found).execute()
    return seen


def _record_host(engine, info, registered: bool, seen_at) -> Host | None:
    host = Host.get_or_none(Host.name == info.name)
    if host is None and info.registered:
        return None  # removed (DELETE /hosts) while the engine was being asked
    values = dict(engine=engine.name, cpus=info.cpus, mem=info.mem,
                  attributes=info.attributes, last_seen=seen_at)
    if host is None:
        Host.insert(name=info.name, address=info.address, active=not registered, **values
                    ).on_conflict_ignore().execute()
    else:
        if host.cpus_override is not None:
            values["cpus"] = host.cpus_override
        if host.mem_override is not None:
            values["mem"] = host.mem_override
        if not host.url:
            values.update(address=info.address, active=not registered)
        Host.update(**values).where(Host.id == host.id).execute()
    host = Host.get(Host.name == info.name)
    if not host.url:
        disks.sync_host_disks(host, info.disks)
    return host


def host_state(host: Host) -> str:
    return LOST if host.lost_since is not None else host.state


def _state_reason(host: Host) -> str:
    if host.lost_since is not None:
        return f"lost (no answer since {host.last_seen.isoformat(timespec='seconds')}Z)"
    return "draining" if host.state == DRAIN else ""


def used() -> dict[int, tuple[float, int]]:
    """cpus and memory the holding nodes take, by host id."""
    return {row.host_id: (row.cpus or 0, row.mem or 0) for row in
            Node.select(Node.host, fn.SUM(Node.cpu).alias("cpus"), fn.SUM(Node.mem).alias("mem"))
            .where(Node.host.is_null(False) & Node.status.in_(NodeStatus.HOLDING)).group_by(Node.host)}


def offers(host_ids: list[int] | None = None) -> list[Offer]:
    """What every host offered at all (or those of `host_ids`: a page of GET /hosts) has free."""
    taken = used()
    result = []
    query = Host.select().where(Host.active == True)  # noqa: E712
    if host_ids is not None:
        query = query.where(Host.id.in_(host_ids))
    for host in query.order_by(Host.name):
        cpus, mem = taken.get(host.id, (0, 0))
        rows = list(Disk.select(Disk.name, Disk.node).where(Disk.host == host).order_by(Disk.id))
        free = [d.name for d in rows if d.node_id is None]
        result.append(Offer(host.id, host.name, round(host.cpus - cpus, 3), int(host.mem - mem),
                            len(free), free, [d.name for d in rows], total_cpus=host.cpus,
                            total_mem=host.mem, state=host_state(host),
                            state_reason=_state_reason(host)))
    return result


def host_view(host: Host, offer: Offer | None = None, taken: dict | None = None) -> dict:
    """A host for GET /hosts: totals, what is used and free, state, last seen. The flat
    `cpus`, `mem`, `disks` (totals) and `free` are kept for existing clients. `taken`:
    used() read once for a page of hosts."""
    rows = list(Disk.select(Disk.path, Disk.node).where(Disk.host == host).order_by(Disk.id))
    cpus_used, mem_used = (used() if taken is None else taken).get(host.id, (0, 0))
    free_disks = sum(1 for d in rows if d.node_id is None)
    out = {"name": host.name, "engine": host.engine, "url": host.url, "address": host.address,
           "state": host_state(host), "state_reason": _state_reason(host),
           "last_seen": host.last_seen.isoformat() if host.last_seen else "",
           "labels": host.labels or {}, "active": host.active,
           "cpus": host.cpus, "mem": host.mem, "disks": len(rows),
           "total": {"cpus": host.cpus, "mem": host.mem, "disks": len(rows)},
           "used": {"cpus": round(cpus_used, 3), "mem": int(mem_used), "disks": len(rows) - free_disks},
           "free": {"cpus": round(host.cpus - cpus_used, 3), "mem": int(host.mem - mem_used),
                    "disks": free_disks},
           "disk_paths": [d.path for d in rows],
           "overrides": {k: v for k, v in (("cpus", host.cpus_override),
                                           ("mem", host.mem_override)) if v is not None},
           "tls": bool(host.tls), "attributes": host.attributes}
    if offer is not None:  # what placement can still offer (the same figures, by then)
        out["free"] = {"cpus": offer.cpus, "mem": offer.mem, "disks": offer.disks}
    if host.url.startswith("tcp://") and not host.tls:
        out["warning"] = PLAIN_TCP_WARNING
    return out

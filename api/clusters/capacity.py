"""Whether a cluster could ever fit, decided at launch: a cluster no host set could ever
run is refused with the reason, instead of registering its node rows and waiting for
the scheduling timeout (issue 11, finding 8).

`never_fits` is pure: nodes' needs against hosts' totals (what each host has in all,
not what is free now: a cluster that merely waits for others to go is accepted). No
hosts known yet (a fresh platform whose framework has not looked) means no verdict but
the platform's node limit.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Need:
    name: str
    cpu: float
    mem: int
    disks: int = 0
    named: list[str] = field(default_factory=list)
    required_host: str = ""


@dataclass
class Capacity:
    name: str
    cpus: float
    mem: int
    disks: list[str] = field(default_factory=list)


def _fits(need: Need, host: Capacity) -> bool:
    return (need.cpu <= host.cpus and need.mem <= host.mem and need.disks <= len(host.disks)
            and set(need.named) <= set(host.disks)
            and (not need.required_host or need.required_host == host.name))


def _largest(hosts: list[Capacity]) -> str:
    top = max(hosts, key=lambda h: (h.cpus, h.mem, len(h.disks)))
    return f"the largest host, {top.name}, has {top.cpus:g} cpus, {top.mem} MB and {len(top.disks)} disks"


def never_fits(needs: list[Need], hosts: list[Capacity], max_nodes: int) -> tuple[str, str] | None:
    """(field, reason) when the cluster could never be placed; None when it might."""
    if len(needs) > max_nodes:
        return "nodes", (f"the cluster has {len(needs)} nodes; this platform runs clusters of at most "
                         f"{max_nodes} (BDP_MAX_NODES)")
    if not hosts:
        return None
    for need in needs:
        if not any(_fits(need, h) for h in hosts):
            if need.required_host and need.required_host not in {h.name for h in hosts}:
                why = f"there is no host {need.required_host!r}"
            else:
                why = _largest([h for h in hosts if h.name == need.required_host] or hosts)
            return f"nodes.{need.name}", (
                f"node {need.name} needs {need.cpu:g} cpus, {need.mem} MB and {need.disks} disks"
                + (f" ({', '.join(need.named)})" if need.named else "")
                + (f" on host {need.required_host}" if need.required_host else "") + f"; {why}")
    for what, wanted, offered, unit in (
            ("cpus", sum(n.cpu for n in needs), sum(h.cpus for h in hosts), "cpus"),
            ("memory", sum(n.mem for n in needs), sum(h.mem for h in hosts), "MB"),
            ("disks", sum(n.disks for n in needs), sum(len(h.disks) for h in hosts), "disks")):
        if wanted > offered:
            return "nodes", (f"the cluster needs {wanted:g} {unit} in all; all {len(hosts)} host(s) "
                             f"together have {offered:g} {unit} of {what}")
    return None


def needs_of(checked) -> list[Need]:
    """What each node of a rendered (checked) document asks of a host."""
    return [Need(name, n.cpu, n.mem, len(n.disks), [d.origin for d in n.disks.values() if d.origin],
                 n.required_host) for name, n in checked.nodes.items()]

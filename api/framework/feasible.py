"""Feasibility filters: one small function per constraint, as Nomad's scheduler/feasible.

Each takes a node's request and one host's offer and answers None (the host will do) or
why not, in words that name the host's side of it ("1.5 of 4 cpus free"). Placement
runs them in order; the first that refuses a host is that host's reason. Pure.
"""
from __future__ import annotations

from collections.abc import Callable

from api.framework.request import NodeRequest
from api.infra.host import Offer

EPSILON = 1e-9  # cpus are floats: 0.1 + 0.2 must fit in 0.3


def num(value: float) -> str:
    """2 rather than 2.0, 0.25 as is, and never 1e+08."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def host_state(node: NodeRequest, offer: Offer) -> str | None:
    """Drained and lost hosts take no new node."""
    return None if offer.state == "active" else offer.state_reason or offer.state


def required_host(node: NodeRequest, offer: Offer) -> str | None:
    if node.required_host and offer.host != node.required_host:
        return f"not {node.required_host}, which node {node.name} requires"
    return None


def named_disks(node: NodeRequest, offer: Offer) -> str | None:
    missing = [d for d in node.named if d not in offer.disk_names]
    if not missing:
        return None
    if missing[0] in offer.claimed:
        return f"disk {missing[0]} is taken by node {offer.claimed[missing[0]]} of this cluster"
    return f"no free disk {missing[0]}" if missing[0] in offer.all_disks else f"no disk {missing[0]}"


def cpus(node: NodeRequest, offer: Offer) -> str | None:
    if offer.cpus >= node.cpu - EPSILON:
        return None
    return f"{num(max(offer.cpus, 0))} of {num(offer.total_cpus)} cpus free"


def memory(node: NodeRequest, offer: Offer) -> str | None:
    if offer.mem >= node.mem:
        return None
    return f"{max(offer.mem, 0)} of {offer.total_mem} MB free"


def disks(node: NodeRequest, offer: Offer) -> str | None:
    if offer.disks >= node.disks:
        return None
    return f"{offer.disks} of {offer.total_disks} disks free" if offer.disks else "no free disk"


def spread_group(node: NodeRequest, offer: Offer) -> str | None:
    """Anti-affinity: two nodes of one group (e.g. a gluster replica pair) never share a host."""
    for group in node.groups:
        if group in offer.groups:
            return f"holds {offer.groups[group]} of group {group}"
    return None


Filter = Callable[[NodeRequest, Offer], "str | None"]
# In order: the first refusal is a host's reason, so the cheapest, most telling come first.
FILTERS: list[Filter] = [host_state, required_host, named_disks, spread_group, cpus, memory, disks]


def reason(node: NodeRequest, offer: Offer, filters: list[Filter] = FILTERS) -> str | None:
    for check in filters:
        why = check(node, offer)
        if why is not None:
            return why
    return None

"""Placement: which host each node of a cluster goes to.

A pure function of the hosts' free resources (offers) and the nodes' requests: no
database, no engine. A host may take a node when every feasibility filter passes
(feasible.py); among those, the strategy picks: `spread` (the default) the host with
the fewest nodes of the cluster in the node's role (its tags), then of the cluster, then
the most free cpus and memory, so a cluster's nodes, and each role's, land on distinct
hosts (Slurm's compute nodes are spread even beside their controller); `binpack`
the one with the least, so hosts fill up one at a time. Nodes are placed in order and
each spends its offer, so a plan never over-commits a host.

When a node fits nowhere, `Unplaceable` says what the node needs and what the best host
offers (the sentence the events and API show), followed by why each host was filtered
when there are several.
"""
from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable

from api.framework import feasible
from api.framework.feasible import num
from api.framework.placement_index import PlacementIndex, indexable
from api.framework.request import NodeRequest
from api.infra.host import Offer

SPREAD, BINPACK = "spread", "binpack"
STRATEGIES = (SPREAD, BINPACK)


class Unplaceable(Exception):
    """The cluster does not fit now; the message says what is missing and where."""

    def __init__(self, message: str, reasons: dict[str, str] | None = None):
        super().__init__(message)
        self.reasons = reasons or {}  # host -> why it was filtered


# (host, disk name) -> the words after "which ..." saying who holds it ("is in use by
# another cluster on host h1"); the caller knows the registry, placement does not.
DiskHolder = Callable[[Offer, str], str]


def _default_holder(offer: Offer, disk: str) -> str:
    return f"is in use by another cluster on host {offer.host}"


def groups_of(tags: list[str], patterns: list[str]) -> list[str]:
    """The anti-affinity groups of a node: its tags that a pattern of the template's
    `placement.anti_affinity` matches (fnmatch: "pair*" matches "pair1")."""
    return [t for t in tags if any(fnmatch.fnmatchcase(t, p) for p in patterns)]


def place(nodes: list[NodeRequest], offers: list[Offer], strategy: str = SPREAD,
          holder: DiskHolder = _default_holder) -> dict[str, Offer]:
    """The host (offer) of every node, by node name; raises Unplaceable.

    `offers` are not changed: placement spends copies."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown placement strategy {strategy!r}")
    offers = list(offers)
    # The index finds choose()'s host without filtering every host for every node
    # (placement_index.py); choose() itself places the nodes it cannot and explains.
    index = PlacementIndex(offers, strategy)
    copied: set[int] = set()  # offers are copied when first spent, not all up front
    plan: dict[str, Offer] = {}
    for node in nodes:
        i = index.choose(node) if indexable(node) else None
        if i is None:
            chosen = choose(node, offers, strategy, placed=len(plan), holder=holder)
            i = next(k for k, o in enumerate(offers) if o is chosen)
        if i not in copied:
            offers[i] = own_copy(offers[i])
            copied.add(i)
        spend(offers[i], node)
        index.spent(offers[i], i)
        plan[node.name] = offers[i]
    return plan


def own_copy(offer: Offer) -> Offer:
    """A copy spend() may change without touching the caller's offer: its lists and
    dicts (what spend changes) are copied, the rest is shared."""
    own = copy.copy(offer)
    for name, value in vars(offer).items():
        if isinstance(value, (list, dict)):
            setattr(own, name, copy.copy(value))
    return own


def spend(offer: Offer, node: NodeRequest) -> None:
    offer.cpus = round(offer.cpus - node.cpu, 9)
    offer.mem -= node.mem
    offer.disks -= node.disks
    for disk in node.named:
        offer.disk_names.remove(disk)
        offer.claimed[disk] = node.name
    for group in node.groups:
        offer.groups[group] = node.name
    for tag in node.tags:
        offer.tagged[tag] = offer.tagged.get(tag, 0) + 1
    offer.placed += 1


def choose(node: NodeRequest, offers: list[Offer], strategy: str = SPREAD, placed: int = 0,
           holder: DiskHolder = _default_holder) -> Offer:
    """The best offer for one node, or Unplaceable naming why none will do."""
    if len(set(node.named)) < len(node.named):  # the template check refuses this; rows may not
        raise Unplaceable(f"node {node.name} names one host disk for two of its disks")
    reasons = {o.host: feasible.reason(node, o) for o in offers}
    fits = [o for o in offers if reasons[o.host] is None]
    if fits:
        if strategy == SPREAD:  # fewest nodes of this role, then of this cluster, then the most free
            return max(fits, key=lambda o: (-sum(o.tagged.get(t, 0) for t in node.tags),
                                            -o.placed, o.cpus, o.mem, o.disks))
        return min(fits, key=lambda o: (o.cpus, o.mem, o.disks))
    message = _why(node, offers, reasons, placed, holder)
    if len(offers) > 1:
        message += " (" + "; ".join(f"{host}: {why}" for host, why in reasons.items()) + ")"
    raise Unplaceable(message, reasons)


def _why(node: NodeRequest, offers: list[Offer], reasons: dict[str, str | None], placed: int,
         holder: DiskHolder) -> str:
    """The sentence for a node no host takes: the first constraint that rules out every
    remaining host, as a person would say it."""
    after = f" (after placing {placed} other nodes of this cluster)" if placed else ""
    if not offers:
        return f"node {node.name}: no host is available"
    usable = [o for o in offers if feasible.host_state(node, o) is None]
    if not usable:
        return f"node {node.name}: no host is available"
    if node.required_host:
        usable = [o for o in usable if o.host == node.required_host]
        if not usable:
            names = ", ".join(o.host for o in offers)
            state = next((reasons[o.host] for o in offers if o.host == node.required_host), None)
            if state:
                return f"node {node.name} requires host {node.required_host}, which is {state}"
            return (f"node {node.name} requires host {node.required_host}, which does not exist "
                    f"(hosts: {names})")
    for disk in node.named:
        having = [o for o in usable if disk in o.disk_names]
        if not having:
            return _named_disk_missing(node, disk, usable, holder)
        usable = having
    for group in node.groups:
        free = [o for o in usable if group not in o.groups]
        if not free:
            return (f"node {node.name} must not share a host with the other nodes of group "
                    f"{group}, and every host holds one")
        usable = free
    for attr, need, unit in (("cpus", node.cpu, "cpus"), ("mem", node.mem, "MB of memory"),
                             ("disks", node.disks, "disks")):
        if all(getattr(o, attr) < need - feasible.EPSILON for o in usable):
            best = max(usable, key=lambda o: getattr(o, attr))
            return (f"node {node.name} needs {num(need)} {unit}; largest free offer: "
                    f"{num(max(getattr(best, attr), 0))} {unit} on host {best.host}{after}")
    free = "; ".join(f"{o.host}: {num(o.cpus)} cpus, {o.mem} MB, {o.disks} disks" for o in usable)
    return (f"node {node.name} needs {num(node.cpu)} cpus, {node.mem} MB and {node.disks} "
            f"disks on one host; free offers: {free}{after}")


def _disk_list(names: list[str]) -> str:
    """disk0..disk3 for a run of numbered names, else the names."""
    parts = [re.fullmatch(r"(.*?)(\d+)", n) for n in names]
    if len(names) > 2 and all(parts) and len({p.group(1) for p in parts}) == 1 and \
            [int(p.group(2)) for p in parts] == list(range(int(parts[0].group(2)),
                                                         int(parts[0].group(2)) + len(names))):
        return f"{names[0]}..{names[-1]}"
    return ", ".join(names) or "no disks"


def _named_disk_missing(node: NodeRequest, name: str, candidates: list[Offer],
                        holder: DiskHolder) -> str:
    where = [o for o in candidates if name in o.all_disks]
    if not where:
        hosts_ = "; ".join(f"host {o.host}: {_disk_list(o.all_disks)}" for o in candidates)
        return f"node {node.name} needs disk {name}; no host has it ({hosts_})"
    offer = where[0]
    if name in offer.claimed:
        return (f"node {node.name} needs disk {name}, which node {offer.claimed[name]} of "
                f"this cluster takes on host {offer.host}")
    return f"node {node.name} needs disk {name}, which {holder(offer, name)}"

"""Placement at scale: the same choice as placement.choose, without looking at every host
for every node.

`choose` evaluates every filter on every host for each node: 10,000 nodes on 1,000 hosts
is ten million filter calls. The index keeps, per kind of node (its request: cpu, memory,
disk count, tags), a heap of hosts ordered by the strategy's key, best first, ties by
host order (as max/min over the list break them). A node takes the first host of its
heap that passes every filter; a host that refuses a kind of node is dropped from that
kind's heap for good, because within one plan a host's free resources only shrink, its
groups only fill and its state (drained, lost: feasible.host_state) stays as it was.
When a host takes a node its key changes: it is pushed again into every heap (older
entries are skipped by their version).

The cost is one heap push per kind of node for each node placed: a cluster has a few
kinds (its roles), not one per node.

Nodes that name host disks, a required host or anti-affinity groups (the tags the
template's `placement.anti_affinity` matches) go through `choose` itself (their kinds
would be one per node or per replica pair), and so does any node the index finds no host
for, so every message about a node that does not fit is choose's own.
"""
from __future__ import annotations

import heapq

from api.framework import feasible
from api.framework.request import NodeRequest
from api.infra.host import Offer

SPREAD = "spread"


def indexable(node: NodeRequest) -> bool:
    """Whether the index may place `node`: not when it names host disks, requires a host
    or belongs to anti-affinity groups (placement.groups_of)."""
    return not (node.named or node.required_host or node.groups)


class PlacementIndex:
    def __init__(self, offers: list[Offer], strategy: str):
        self.offers = offers
        self.spread = strategy == SPREAD
        self.version = [0] * len(offers)
        self.heaps: dict[tuple, list] = {}  # kind -> [(key, index, version)]
        self.tags: dict[tuple, tuple[str, ...]] = {}  # kind -> the tags its key counts
        self.base: list | None = None  # the hosts' first keys, heapified (see _from_base)
        self.touched: list[int] = []  # hosts that took a node in this plan, each once
        # Roles that hosts hold nodes of from before this plan (allocation.cluster_offers).
        self.held = {t for o in offers if o.tagged for t in o.tagged} if self.spread else set()

    def _key(self, offer: Offer, tags: tuple[str, ...]) -> tuple:
        if self.spread:  # max of (-role count, -placed, cpus, mem, disks): negate for a min-heap
            role = sum(offer.tagged.get(t, 0) for t in tags) if tags else 0
            return (role, offer.placed, -offer.cpus, -offer.mem, -offer.disks)
        return (offer.cpus, offer.mem, offer.disks)

    def _heap(self, node: NodeRequest) -> tuple[tuple, list]:
        tags = tuple(node.tags)  # its roles; none: spread counts the cluster's nodes only
        kind = (node.cpu, node.mem, node.disks, tags)
        heap = self.heaps.get(kind)
        if heap is None:
            if self.held.isdisjoint(tags):
                heap = self._from_base(tags)
            else:  # some host already holds this role: its own keys (written out: a hot loop)
                version, t = self.version, tags[0]
                heap = ([((o.tagged.get(t, 0), o.placed, -o.cpus, -o.mem, -o.disks), i, version[i])
                         for i, o in enumerate(self.offers)] if len(tags) == 1 else
                        [(self._key(o, tags), i, version[i]) for i, o in enumerate(self.offers)])
                heapq.heapify(heap)
            self.heaps[kind] = heap
            self.tags[kind] = tags
        return kind, heap

    def _from_base(self, tags: tuple[str, ...]) -> list:
        """A kind's heap from the keys every host had before it took a node of this plan,
        built once and copied (a copy of a heap is a heap): with no host holding the
        kind's roles before the plan (binpack: whatever they hold), those keys are the
        same for every kind. Hosts that took a node since are stale there (version 0)
        and pushed again with their key now."""
        if self.base is None:
            if self.spread:
                base = [((0, o.placed, -o.cpus, -o.mem, -o.disks), i, 0) for i, o in enumerate(self.offers)]
            else:
                base = [((o.cpus, o.mem, o.disks), i, 0) for i, o in enumerate(self.offers)]
            heapq.heapify(base)
            self.base = base
        heap = list(self.base)
        for i in self.touched:
            heapq.heappush(heap, (self._key(self.offers[i], tags), i, self.version[i]))
        return heap

    def choose(self, node: NodeRequest) -> int | None:
        """The position of the host choose() would pick for `node`, or None (then ask
        choose, which explains why nothing fits)."""
        kind, heap = self._heap(node)
        while heap:
            key, index, version = heap[0]
            if version != self.version[index]:
                heapq.heappop(heap)  # an older key of a host pushed again since
                continue
            if feasible.reason(node, self.offers[index]) is None:
                return index
            heapq.heappop(heap)  # refuses this kind now, so for the rest of the plan
        return None

    def spent(self, offer: Offer, index: int) -> None:
        """`offer` (the index-th) took a node: its place in every heap changes."""
        self.version[index] += 1
        if self.version[index] == 1:
            self.touched.append(index)
        for kind, heap in self.heaps.items():
            heapq.heappush(heap, (self._key(offer, self.tags[kind]), index, self.version[index]))

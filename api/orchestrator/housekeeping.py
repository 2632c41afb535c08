"""What the operations executor does by itself on every pass (issue 12):

* expired clusters are destroyed, with an event saying so (api/clusters/lifetimes.py);
* a dead (or lost) node of a cluster at rest with `auto_replace` (the cluster's launch
  key, else its product's default) is replaced after BDP_REPLACE_GRACE seconds: a
  `replace` operation is queued in its name, as a user would queue one.

The grace period is counted from when this executor first saw the node dead; a restarted
executor counts again, which only delays the replacement.
"""
from __future__ import annotations

import time

from api.catalog import day2
from api.clusters import lifetimes, operations
from api.core import status as st
from api.core.models import Cluster, Job, Node, Product, utcnow

COMPONENT = "operations"


def expire() -> int:
    """Move expired clusters to `destroying` (the framework removes them)."""
    done = 0
    for cluster in lifetimes.expired():
        when = cluster.expires.isoformat(timespec="seconds")
        if st.transition(cluster, st.DESTROYING, COMPONENT, f"expired: its lifetime ended at {when}Z"):
            Job.create(cluster=cluster.id, kind="destroy", created=utcnow(), who="platform (lifetime)")
            done += 1
    return done


class AutoReplace:
    def __init__(self, grace: float):
        self.grace = grace
        self._dead_since: dict[tuple[int, str], float] = {}

    def __call__(self) -> int:
        now = time.monotonic()
        rows = (Node.select(Node.name, Node.cluster, Cluster, Product)
                .join(Cluster).join(Product)
                .where(Node.status.in_(st.NodeStatus.UNHEALTHY) & Cluster.status.in_(st.AT_REST)))
        dead: dict[int, list[str]] = {}
        clusters: dict[int, Cluster] = {}
        for node in rows:
            cluster = node.cluster
            wanted = cluster.auto_replace if cluster.auto_replace is not None else \
                day2.of(cluster.product)["auto_replace"]
            if wanted:
                dead.setdefault(cluster.id, []).append(node.name)
                clusters[cluster.id] = cluster
        seen = {(cid, name) for cid, names in dead.items() for name in names}
        self._dead_since = {k: v for k, v in self._dead_since.items() if k in seen}
        for key in seen:
            self._dead_since.setdefault(key, now)
        busy = operations.open_of(list(dead))
        queued = 0
        for cid, names in dead.items():
            ripe = all(now - self._dead_since[(cid, n)] >= self.grace for n in names)
            if cid in busy or not ripe:
                continue
            operations.add(clusters[cid], "replace", {"nodes": sorted(names)}, "platform (auto_replace)")
            queued += 1
        return queued

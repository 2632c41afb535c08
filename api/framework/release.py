"""Releasing a failed cluster: its containers, addresses and disks go back at once,
while its record, nodes (with their reasons), services, events and run logs stay for
the user to read until they destroy it (issue 11, finding 8).

Level-triggered like the rest of the framework: a `failed` cluster with a node still
placed on a host that is not lost is pending; the controller claims it with a lease and
calls `release`. A node that failed keeps its status and reason; the others become
`destroyed`. A node on a host that is away keeps its place (and its container, data,
disks and addresses) until the host answers again, when the cluster is pending again
and the next pass releases it (teardown.py). A framework killed half way simply does it
again.
"""
from __future__ import annotations

from peewee import JOIN

from api.core import lease
from api.core import status as st
from api.core.models import Cluster, Host, Lease, Node
from api.core.status import NodeStatus
from api.framework import teardown

COMPONENT = "framework"


def pending(owner: str) -> list[int]:
    """Failed clusters that still hold resources of a host that is not lost, and nobody
    else is working on."""
    placed = Node.select(Node.cluster).join(Host).where(Host.lost_since.is_null())
    query = (Cluster.select(Cluster.id)
             .join(Lease, JOIN.LEFT_OUTER, on=(Lease.cluster == Cluster.id))
             .where((Cluster.status == st.FAILED) & Cluster.id.in_(placed)
                    & (Lease.id.is_null() | lease.free_or_mine(owner)))
             .order_by(Cluster.id))
    return [row.id for row in query]


def release(engine, cluster: Cluster, starts) -> str:
    """Remove the cluster's containers (in parallel on `starts`, an executor), give back
    its addresses and disks, and record what was released."""
    def mark(done):
        here = Node.id.in_(done.here or [0])
        Node.update(status=NodeStatus.DESTROYED).where(
            here & (Node.status != NodeStatus.FAILED)).execute()
        Node.update(host=None).where(here).execute()
    done = teardown.take_down(engine, cluster, starts, mark)
    message = (f"released {done.removed} containers, {done.addresses} addresses and {done.disks} "
               "disks; the cluster keeps its record, events and logs until it is destroyed"
               + done.away_note("released"))
    if done.removed or done.addresses or done.disks:  # not again and again for a silent host
        st.record(cluster.id, COMPONENT, message)
    return message

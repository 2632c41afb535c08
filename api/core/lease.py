"""Leases: how a controller claims a cluster so no other process acts on it.

A lease is a row of its own (`Lease`: cluster, owner, expiry), never a column of the
cluster: SQLite rewrites a whole row on any UPDATE, and a lease is taken and given back
on every controller pass, so a cluster waiting for resources would rewrite its options
every second. Claiming is one conditional UPDATE (or, the first time, an INSERT that a
unique index lets only one process win), so it is atomic on SQLite and PostgreSQL
alike. A controller renews its lease while it works; a killed controller's lease simply
runs out and another (or the same one, restarted) picks the cluster up where the
registry says it is.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import socket
import uuid

from peewee import JOIN, DatabaseError, Value

from api.core.models import Cluster, Lease, utcnow

log = logging.getLogger("bdp.lease")


def new_owner(component: str) -> str:
    return f"{component}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def free_or_mine(owner: str):
    """Lease rows nobody holds now, or `owner` does."""
    return Lease.owner.is_null() | (Lease.expires < utcnow()) | (Lease.owner == owner)


def claim(cluster_id: int, owner: str, seconds: float, statuses: set[str] | None = None) -> bool:
    """Take (or renew) the lease on a cluster; False if someone else holds it."""
    expires = utcnow() + dt.timedelta(seconds=seconds)
    wanted = Cluster.select(Cluster.id).where(Cluster.id == cluster_id)
    if statuses is not None:
        wanted = wanted.where(Cluster.status.in_(statuses))
    updated = (Lease.update(owner=owner, expires=expires)
               .where((Lease.cluster == cluster_id) & free_or_mine(owner) & Lease.cluster.in_(wanted))
               .execute())
    if updated:
        return True
    # No lease row yet: one INSERT; of two processes at once the unique index lets one in.
    rows = wanted.select(Cluster.id, Value(owner), Value(expires))
    inserted = (Lease.insert_from(rows, [Lease.cluster, Lease.owner, Lease.expires])
                .on_conflict_ignore().as_rowcount().execute())
    return bool(inserted)


def kept_when_busy(renewal):
    """For a holder renewing its lease while it works: a database busy past its timeout is
    no lost lease (the next renewal, a third of a lease later, tries again); the renewal
    says True. Giving the work up for it would have the next pass take the cluster, find
    its playbook run `running`, and kill it as a dead holder's."""
    @functools.wraps(renewal)
    def renew(*args, **kwargs):
        try:
            return renewal(*args, **kwargs)
        except DatabaseError as exc:
            log.warning("%s%r: not renewed now: %s", renewal.__name__, args, exc)
            return True
    return renew


@kept_when_busy
def renew(cluster_id: int, owner: str, seconds: float, statuses: set[str] | None = None) -> bool:
    """claim() by the holder, while it works; False when someone else holds it now."""
    return claim(cluster_id, owner, seconds, statuses)


def release(cluster_id: int, owner: str) -> None:
    Lease.update(owner=None, expires=None).where(
        (Lease.cluster == cluster_id) & (Lease.owner == owner)).execute()


def claimable(statuses: set[str], owner: str) -> list[int]:
    """Ids of clusters in `statuses` that nobody else holds, oldest first."""
    query = (Cluster.select(Cluster.id)
             .join(Lease, JOIN.LEFT_OUTER, on=(Lease.cluster == Cluster.id))
             .where(Cluster.status.in_(statuses) & (Lease.id.is_null() | free_or_mine(owner)))
             .order_by(Cluster.id))
    return [row.id for row in query]


def holder(cluster_id: int) -> str | None:
    """Who holds the cluster's lease now (None: nobody)."""
    row = Lease.get_or_none((Lease.cluster == cluster_id) & (Lease.expires >= utcnow()))
    return row.owner if row else None

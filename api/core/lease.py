"""Leases: how a controller claims a cluster so no other process acts on it.

A lease is two columns on the cluster (owner, expiry). Claiming is one conditional
UPDATE, so it is atomic on SQLite and PostgreSQL alike. A controller renews its
lease while it works; a killed controller's lease simply runs out and another (or
the same one, restarted) picks the cluster up where the registry says it is.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from api.core.models import Cluster, utcnow


def new_owner(component: str) -> str:
    return f"{component}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _free_or_mine(owner: str):
    return (Cluster.lease_owner.is_null() | (Cluster.lease_expires < utcnow())
            | (Cluster.lease_owner == owner))


def claim(cluster_id: int, owner: str, seconds: float, statuses: set[str] | None = None) -> bool:
    """Take (or renew) the lease on a cluster; False if someone else holds it."""
    query = Cluster.update(lease_owner=owner,
                           lease_expires=utcnow() + dt.timedelta(seconds=seconds)).where(
        (Cluster.id == cluster_id) & _free_or_mine(owner))
    if statuses is not None:
        query = query.where(Cluster.status.in_(statuses))
    return bool(query.execute())


def release(cluster_id: int, owner: str) -> None:
    Cluster.update(lease_owner=None, lease_expires=None).where(
        (Cluster.id == cluster_id) & (Cluster.lease_owner == owner)).execute()


def claimable(statuses: set[str], owner: str) -> list[int]:
    """Ids of clusters in `statuses` that nobody else holds, oldest first."""
    query = (Cluster.select(Cluster.id)
             .where(Cluster.status.in_(statuses) & _free_or_mine(owner))
             .order_by(Cluster.id))
    return [row.id for row in query]

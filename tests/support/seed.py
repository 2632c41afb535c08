"""Clusters written straight into the registry, many at once, for tests of listing,
pagination, streams and retention (no template rendered, no node placed)."""
from __future__ import annotations

import datetime as dt


def product(name: str = "perf", version: str = "1.0.0"):
    from api.core.models import Product
    row, _ = Product.get_or_create(name=name, version=version)
    return row


def user(name: str, admin: bool = False):
    from api.core.models import User
    row, _ = User.get_or_create(name=name, defaults={"role": "admin" if admin else "user"})
    return row


def add_clusters(owner, prod, count: int, status: str = "registered", age: dt.timedelta | None = None,
                 nodes: int = 0) -> list[int]:
    """`count` clusters of `owner` and `prod` (next seqs), `age` old; their ids."""
    from api.core.models import Cluster, Event, Node, db, utcnow
    when = utcnow() - (age or dt.timedelta(0))
    start = (Cluster.select(Cluster.seq).where((Cluster.user == owner) & (Cluster.product == prod))
             .order_by(Cluster.seq.desc()).scalar() or 0) + 1
    ids = []
    with db.atomic():
        for seq in range(start, start + count):
            c = Cluster.create(user=owner, product=prod, seq=seq, status=status, created=when,
                               updated=when, status_since=when, options={"size": nodes})
            Event.create(cluster=c, time=when, component="api", message=f"{status}: seeded")
            if nodes:
                Node.insert_many([{"cluster": c.id, "name": f"node{i}"} for i in range(nodes)]).execute()
            ids.append(c.id)
    return ids

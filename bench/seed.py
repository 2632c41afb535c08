"""Many registered clusters written straight into a registry for the API benchmarks:
each like a 1-node `perf/1.0.0` launch (cluster, document, node, service, event, job),
inserted in batches, so 10,000 take seconds instead of the minutes that many launches take."""
from __future__ import annotations

BATCH = 500


def seed_clusters(count: int, user_name: str = "admin", product: str = "perf", version: str = "1.0.0") -> int:
    """`count` clusters of `user_name` (who must exist); returns how many there are now."""
    from api.core.models import Cluster, ClusterDocument, Event, Job, Node, Product, Service, User, db, utcnow
    user = User.get(User.name == user_name)
    prod, _ = Product.get_or_create(name=product, version=version)
    start = (Cluster.select(Cluster.seq).where((Cluster.user == user) & (Cluster.product == prod))
             .order_by(Cluster.seq.desc()).scalar() or 0) + 1
    now = utcnow()
    for first in range(start, start + count, BATCH):
        seqs = range(first, min(first + BATCH, start + count))
        with db.atomic():
            Cluster.insert_many([{"user": user.id, "product": prod.id, "seq": s, "status": "registered",
                                  "options": {"size": 1}, "dnsname": f"c{s}.perf", "created": now,
                                  "updated": now, "status_since": now} for s in seqs]).execute()
            ids = [i for (i,) in Cluster.select(Cluster.id).where(
                (Cluster.user == user) & (Cluster.product == prod) & Cluster.seq.between(seqs[0], seqs[-1]))
                .tuples()]
            ClusterDocument.insert_many([{"cluster": i, "document": {"nodes": {"node0": {"cpu": 1}}}}
                                         for i in ids]).execute()
            Node.insert_many([{"cluster": i, "name": "node0", "cpu": 1, "mem": 256} for i in ids]).execute()
            Service.insert_many([{"cluster": i, "name": "main", "nodes": ["node0"]} for i in ids]).execute()
            Event.insert_many([{"cluster": i, "component": "api", "message": "registered"} for i in ids]).execute()
            Job.insert_many([{"cluster": i, "kind": "launch"} for i in ids]).execute()
    return Cluster.select().where(Cluster.product == prod).count()

"""Placement over registered hosts, from the registry (no Docker): a launched cluster's
template decides the strategy and the anti-affinity, drained and lost hosts get nothing,
and a cluster that does not fit says why for every host."""
from __future__ import annotations

import pytest

from api.catalog.bundle import sync_bundles
from api.clusters.queries import cluster_document
from api.core.models import Cluster, Disk, Host, Node, utcnow
from api.framework import allocation
from api.framework.placement import Unplaceable
from support.rest import P, add_product

GLUSTER = "products/gluster/10.3"


def _launch(client, product: str, version: str, options: dict) -> Cluster:
    r = client.simulate_post(f"{P}/products/{product}/{version}", json=options)
    assert r.status_code == 202, r.text
    return Cluster.select().order_by(Cluster.id.desc()).first()  # seqs repeat across products


def _nodes(cluster: Cluster) -> list[Node]:
    return list(Node.select().where(Node.cluster == cluster).order_by(Node.id))


def test_gluster_replica_pairs_never_share_a_host(client, platform, three_hosts):
    from api.core.config import REPO_ROOT
    sync_bundles(REPO_ROOT / GLUSTER)
    cluster = _launch(client, "gluster", "10.3", {"size": 4, "cpu": 1, "mem": 512})
    assert cluster_document(cluster.id)["placement"] == {"strategy": "spread", "anti_affinity": ["pair*"]}
    plan = allocation.place_cluster(cluster, _nodes(cluster))
    where = {name: offer.host for name, offer in plan.items()}
    assert where["gluster1"] != where["gluster2"] and where["gluster3"] != where["gluster4"]
    # With one host left to take nodes, a pair cannot be split: the cluster waits, saying
    # why for every host.
    Host.update(state="drain").where(Host.name == "node-b").execute()
    Host.update(lost_since=utcnow()).where(Host.name == "node-c").execute()
    other = _launch(client, "gluster", "10.3", {"size": 2, "cpu": 1, "mem": 512})
    with pytest.raises(Unplaceable) as exc:
        allocation.place_cluster(other, _nodes(other))
    message = str(exc.value)
    assert message.startswith("node gluster2 must not share a host with the other nodes of group "
                              "pair1, and every host holds one"), message
    assert "node-a: holds gluster1 of group pair1" in message
    assert "node-b: draining" in message and "node-c: lost (no answer since" in message
    assert Disk.select().where(Disk.node.is_null(False)).count() == 4  # only the first cluster's


def test_on_a_platform_of_one_host_gluster_pairs_share_it(client, platform):
    """The embedded engine alone (`make run`): anti-affinity has nothing to keep apart
    from, and the cluster is placed instead of waiting for ever."""
    from api.core.config import REPO_ROOT
    host = Host.create(name="vm", url="", cpus=8, mem=8192)
    for d in range(4):
        Disk.create(host=host, name=f"disk{d}", path=f"/srv/vm/disk{d}")
    sync_bundles(REPO_ROOT / GLUSTER)
    cluster = _launch(client, "gluster", "10.3", {"size": 2, "cpu": 1, "mem": 512})
    plan = allocation.place_cluster(cluster, _nodes(cluster))
    assert {o.host for o in plan.values()} == {"vm"}


def test_a_template_asking_for_binpack_fills_one_host_first(client, platform, three_hosts):
    from support.rest import TEMPLATE
    binpack = TEMPLATE.replace('"nodes": {', '"placement": {"strategy": "binpack"},\n  "nodes": {', 1)
    add_product(client, name="packed", template=binpack)
    cluster = _launch(client, "packed", "1.0", {"size": 3, "cpu": 1})
    plan = allocation.place_cluster(cluster, _nodes(cluster))
    assert len({o.host for o in plan.values()}) == 1
    add_product(client, name="spread")
    cluster = _launch(client, "spread", "1.0", {"size": 3, "cpu": 1})
    plan = allocation.place_cluster(cluster, _nodes(cluster))
    assert sorted(o.host for o in plan.values()) == ["node-a", "node-b", "node-c"]


def test_a_template_with_a_bad_placement_is_refused_naming_it(client, platform):
    from support.rest import TEMPLATE, put_template
    add_product(client, name="bad", template=None)
    r = put_template(client, "bad", "1.0", TEMPLATE.replace(
        '"nodes": {', '"placement": {"strategy": "random"},\n  "nodes": {', 1))
    assert r.status_code == 400 and "placement.strategy" in r.json.get("field", ""), r.text

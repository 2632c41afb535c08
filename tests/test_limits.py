"""Inputs that make no sense are refused at launch, with the reason, and nothing is
registered (issue 11, finding 8): a cpu of 1e-9, negative disks, more nodes than the
platform runs, a node bigger than every host, more than all hosts have together.
The capacity verdict is a pure function; the launches go through the API. No Docker."""
from __future__ import annotations

import pytest

from api.clusters.capacity import Capacity, Need, never_fits
from support.rest import P, add_product, ensure_networks, error

HOSTS = [Capacity("h1", 8, 8192, ["disk0", "disk1"]), Capacity("h2", 4, 4096, ["disk0"])]


@pytest.mark.parametrize("needs, field, reason", [
    ([Need("n1", 16, 512)], "nodes.n1", "node n1 needs 16 cpus, 512 MB and 0 disks; the largest host, h1, "
                                       "has 8 cpus, 8192 MB and 2 disks"),
    ([Need("n1", 1, 9000)], "nodes.n1", "needs 1 cpus, 9000 MB"),
    ([Need("n1", 1, 64, 3)], "nodes.n1", "and 3 disks"),
    ([Need("n1", 1, 64, named=["disk7"])], "nodes.n1", "(disk7)"),
    ([Need("n1", 1, 64, required_host="h9")], "nodes.n1", "there is no host 'h9'"),
    ([Need("n1", 6, 64, required_host="h2")], "nodes.n1", "the largest host, h2, has 4 cpus"),
    ([Need(f"n{i}", 3, 64) for i in range(5)], "nodes", "needs 15 cpus in all; all 2 host(s) together have 12"),
    ([Need(f"n{i}", 1, 64, 1) for i in range(4)], "nodes", "needs 4 disks in all"),
    ([Need(f"n{i}", 0.01, 1) for i in range(11)], "nodes", "the cluster has 11 nodes; this platform runs "
                                                           "clusters of at most 10 (BDP_MAX_NODES)"),
])
def test_clusters_that_can_never_fit(needs, field, reason):
    verdict = never_fits(needs, HOSTS, max_nodes=10)
    assert verdict is not None and verdict[0] == field and reason in verdict[1], verdict


def test_clusters_that_fit_in_all_or_wait_for_others_are_accepted():
    assert never_fits([Need("a", 8, 8192, 2), Need("b", 4, 4096, 1)], HOSTS, 10) is None
    assert never_fits([Need("a", 1, 64, required_host="h2")], HOSTS, 10) is None
    assert never_fits([Need("a", 100, 10**6)], [], 10) is None  # no hosts known yet: no verdict


@pytest.fixture
def reference(client):
    from api.catalog import bundle
    from support.common import REPO
    ensure_networks()
    bundle.sync_bundle(bundle.load_bundle(REPO / "products/reference/1.0.0"))
    return client


def registered():
    from api.core.models import Cluster, Node
    return Cluster.select().count(), Node.select().count()


@pytest.mark.parametrize("options, field, needle", [
    ({"size": 1, "disks": -5}, "disks", "must be at least 0"),
    ({"size": 5000}, "nodes", "the cluster has 5000 nodes; this platform runs clusters of at most 500"),
])
def test_the_reference_product_refuses_what_makes_no_sense(reference, options, field, needle):
    r = reference.simulate_post(f"{P}/products/reference/1.0.0", json=options)
    assert r.status_code == 400, r.text
    assert error(r)["field"] == field and needle in error(r)["message"]
    assert registered() == (0, 0)


def test_a_cpu_too_small_to_run_is_refused(client):
    ensure_networks()
    template = ('{"nodes": {"n1": {"docker_image": "bdp/base:bookworm", "cpu": {{ opts.cpu }}}}, '
                '"services": {}}')
    add_product(client, "tiny", "1", template, {"required": {}, "optional": {"cpu": 0.5}, "advanced": {},
                                                "descriptions": {}})
    r = client.simulate_post(f"{P}/products/tiny/1", json={"cpu": 1e-9})
    assert r.status_code == 400 and error(r)["field"] == "nodes.n1.cpu"
    assert "greater than or equal to 0.01" in error(r)["message"]
    assert registered() == (0, 0)


def test_a_node_bigger_than_every_host_is_refused_at_launch(reference):
    from api.core.models import Disk, Host
    host = Host.create(name="solo", cpus=2, mem=1024)
    Disk.create(host=host, name="disk0", path="/nonexistent/disk0")
    r = reference.simulate_post(f"{P}/products/reference/1.0.0", json={"size": 1, "cpu": 4})
    assert r.status_code == 400
    assert error(r)["field"] == "nodes.node1"
    assert "node node1 needs 4 cpus, 256 MB and 1 disks; the largest host, solo, has 2 cpus" in error(r)["message"]
    r = reference.simulate_post(f"{P}/products/reference/1.0.0", json={"size": 3, "cpu": 0.5})
    assert r.status_code == 400 and "needs 3 disks in all" in error(r)["message"]
    assert registered() == (0, 0)
    r = reference.simulate_post(f"{P}/products/reference/1.0.0", json={"size": 1, "cpu": 1})
    assert r.status_code == 202, r.text

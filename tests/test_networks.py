"""Networks service: definitions over the API, address listings, and atomic allocation
under concurrency (threads on SQLite and PostgreSQL, and four frameworks racing)."""
from __future__ import annotations

import ipaddress
import threading
import uuid

import pytest

from api.core import status as st
from api.core.auth import add_user, create_token
from api.core.config import Settings
from api.core.models import Address, Cluster, Event, Interface, Network, Node, Product, User
from api.framework.controller import Framework
from api.infra import network as networks
from api.platform import Platform
from support.framework import make_cluster
from support.orchestrator import free_subnet
from support.server import remove_platform_containers

NET = "/bigdata/api/v1/networks"


def test_fresh_install_has_admin_and_storage_on_distinct_subnets(client):
    listed = {n["name"]: n for n in client.simulate_get(NET).json}
    assert {"admin", "storage"} <= set(listed)
    admin, storage = (ipaddress.ip_network(listed[n]["subnet"]) for n in ("admin", "storage"))
    assert not admin.overlaps(storage)
    one = client.simulate_get(f"{NET}/admin").json
    assert one["gateway"] == str(admin.network_address + 1) and one["used"] == 0
    # A pool of /24 segments, one per tenant; the last marks the pool taken on the engine.
    assert (admin.prefixlen, one["isolation"], one["segment_prefix"]) == (16, "tenant", 24)
    assert one["segments"] == {"total": 255, "used": 0, "free": 255}
    assert one["free"] == one["total"] == 255 * (256 - 3)  # network, gateway, broadcast
    missing = client.simulate_get(f"{NET}/nope")
    assert missing.status_code == 404 and missing.json["message"] == "no network nope"


@pytest.mark.parametrize("body, field, fragment", [
    ({"name": "x", "subnet": "10.250.0.0/33"}, "subnet", "is not an IPv4 network"),
    ({"name": "x", "subnet": "10.250.0.1/24"}, "subnet", "has host bits set"),
    ({"name": "x", "subnet": "10.250.0.0/24", "gateway": "10.9.0.1"}, "gateway", "not a host address"),
    ({"name": "x", "subnet": "10.250.0.0/24", "range_start": "10.250.0.9", "range_end": "10.250.0.3"},
     "range_start", "must not come after"),
    ({"name": "bad name", "subnet": "10.250.0.0/24"}, "name", "letters, digits"),
    ({"subnet": "10.250.0.0/24"}, "name", "name is required"),
    ({"name": "x", "subnet": "10.250.0.0/24", "colour": "red"}, "colour", "unknown field"),
    ({"name": "x", "subnet": "10.250.0.0/30"}, "segment_prefix", "at most /29"),
    ({"name": "x", "subnet": "10.250.0.0/24", "segment_prefix": 20}, "segment_prefix", "after /24"),
    ({"name": "x", "subnet": "10.250.0.0/24", "driver": "vlan"}, "driver", "one of bridge, macvlan"),
    ({"name": "x", "subnet": "10.250.0.0/24", "driver": "macvlan", "isolation": "shared"}, "parent",
     "needs parent"),
    ({"name": "x", "subnet": "10.250.0.0/24", "driver": "macvlan", "parent": "eth1",
      "isolation": "tenant"}, "isolation", "every tenant shares"),
    ({"name": "x", "subnet": "10.250.0.0/24", "isolation": "private"}, "isolation", "tenant"),
])
def test_post_network_refuses_bad_input_naming_the_field(client, body, field, fragment):
    resp = client.simulate_post(NET, json=body)
    assert resp.status_code == 400, resp.json
    assert resp.json["field"] == field and fragment in resp.json["message"]
    assert resp.json["status"] == 400 and resp.json["error"] == "Bad Request"


def test_post_network_creates_one_admin_only_and_lists_its_addresses(client, platform):
    body = {"name": "lab", "description": "lab net", "subnet": "10.250.0.0/29",
            "range_start": "10.250.0.2", "range_end": "10.250.0.4", "isolation": "shared"}
    bob = add_user("bob")
    token, _ = create_token(bob)
    refused = client.simulate_post(NET, json=body, headers={"x-auth-token": token})
    assert refused.status_code == 403

    created = client.simulate_post(NET, json=body)
    assert created.status_code == 201 and created.headers["location"].endswith("/networks/lab")
    assert created.json["gateway"] == "10.250.0.1" and created.json["total"] == 3
    assert client.simulate_post(NET, json=body).status_code == 409
    admin_subnet = client.simulate_get(f"{NET}/admin").json["subnet"]
    overlap = client.simulate_post(NET, json={"name": "other", "subnet": admin_subnet})
    assert overlap.status_code == 400 and overlap.json["field"] == "subnet"
    assert "overlaps network admin" in overlap.json["message"]

    cluster = make_cluster({"node1": {"networks": ["lab"]}})
    iface = Interface.get(Interface.node == Node.get(Node.cluster == cluster))
    assert networks.allocate(iface) == "10.250.0.2"
    used = client.simulate_get(f"{NET}/lab/addresses", params={"used": ""}).json
    assert used == [{"address": "10.250.0.2", "status": "used", "cluster": cluster.dn,
                     "node": "node1", "device": "eth0"}]
    free = client.simulate_get(f"{NET}/lab/addresses", query_string="free").json
    assert [a["address"] for a in free] == ["10.250.0.3", "10.250.0.4"]
    full = client.simulate_get(f"{NET}/lab/addresses", query_string="full").json
    assert [(a["address"], a["status"]) for a in full] == [
        ("10.250.0.2", "used"), ("10.250.0.3", "free"), ("10.250.0.4", "free")]
    assert client.simulate_get(f"{NET}/lab").json["used"] == 1

    # Another user sees that the address is used, but not whose cluster holds it;
    # alice, the owner, does.
    as_bob = client.simulate_get(f"{NET}/lab/addresses", params={"used": ""}, headers={"x-auth-token": token})
    assert as_bob.json == [{"address": "10.250.0.2", "status": "used"}]
    alice_token, _ = create_token(User.get(User.name == "alice"))
    as_alice = client.simulate_get(f"{NET}/lab/addresses", params={"used": ""},
                                   headers={"x-auth-token": alice_token})
    assert as_alice.json == used


def _race(count: int, addresses: int, name: str) -> tuple[list[str], list[str]]:
    """`count` threads each allocate one address on a network with `addresses` free."""
    network = networks.create_network(name=name, subnet="10.251.0.0/24",
                                       range_start="10.251.0.10",
                                       range_end=f"10.251.0.{9 + addresses}")
    user, _ = User.get_or_create(name=f"u{name}")
    product, _ = Product.get_or_create(name="race", version=name)
    ifaces = []
    for seq in range(count):
        cluster = Cluster.create(user=user, product=product, seq=seq + 1)
        node = Node.create(cluster=cluster, name="n1")
        ifaces.append(Interface.create(node=node, device="eth0", network=network))
    got, full = [], []
    barrier = threading.Barrier(count)
    lock = threading.Lock()

    def worker(iface):
        barrier.wait()
        try:
            address = networks.allocate(Interface.get_by_id(iface.id))
            with lock:
                got.append(address)
        except networks.NetworkFull as exc:
            with lock:
                full.append(str(exc))
        finally:
            Network._meta.database.close()
    threads = [threading.Thread(target=worker, args=(i,)) for i in ifaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got, full


def _assert_race(got, full, name):
    assert len(got) == 10 and len(set(got)) == 10, got  # no address given twice
    assert len(full) == 10 and all(f"network {name} has no free address" in m for m in full)
    rows = Address.select().join(Network).where(Network.name == name)
    assert sorted(a.address for a in rows) == sorted(got)


def test_twenty_threads_race_for_ten_addresses_on_sqlite(platform):
    got, full = _race(20, 10, "race")
    _assert_race(got, full, "race")


def test_twenty_threads_race_for_ten_addresses_on_postgresql(tmp_path, postgres_url):
    platform = Platform(Settings(data_dir=tmp_path / "pg", database_url=postgres_url))
    try:
        name = f"race{uuid.uuid4().hex[:6]}"
        got, full = _race(20, 10, name)
        _assert_race(got, full, name)
    finally:
        platform.database.close()


def test_twenty_launches_and_four_frameworks_race_for_the_last_addresses(platform, docker_client, monkeypatch):
    """Four framework processes' worth of schedulers, twenty one-node clusters, ten
    addresses: each address goes to one cluster, the others wait saying why."""
    # Failed clusters give their addresses back at once (api/framework/release.py); here
    # they keep them, so that who won each address stays to be seen.
    from api.framework import release
    monkeypatch.setattr(release, "pending", lambda owner: [])
    monkeypatch.setattr(release, "release", lambda engine, cluster, starts: "kept for the test")
    try:
        networks.ensure_defaults(platform.settings, platform.engine.used_subnets())
        last = free_subnet(platform.engine)  # one no other platform on the engine uses
        networks.create_network(name="last", subnet=str(last), range_start=str(last[10]),
                                range_end=str(last[19]))
        # The image is missing and nothing builds it: placed clusters fail right after
        # placement (holding their address: release is off) without starting containers.
        clusters = [make_cluster({"n1": {"networks": ["last"], "image": "bdp/missing:0"}}, user=f"user{i}")
                    for i in range(20)]
        frameworks = [Framework(platform) for _ in range(4)]
        barrier = threading.Barrier(4)

        def run(fw):
            barrier.wait()
            for _ in range(3):
                fw.step()
            platform.database.close()
        threads = [threading.Thread(target=run, args=(fw,)) for fw in frameworks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        rows = list(Address.select().join(Network).where(Network.name == "last"))
        assert len(rows) == 10 and len({a.address for a in rows}) == 10
        assert len({a.interface.node.cluster_id for a in rows}) == 10
        statuses = [Cluster.get_by_id(c.id) for c in clusters]
        failed = [c for c in statuses if c.status == st.FAILED]
        waiting = [c for c in statuses if c.status == st.SCHEDULING]
        assert len(failed) == 10 and len(waiting) == 10
        assert all("image bdp/missing:0 is not on the engine" in c.reason for c in failed)
        for c in waiting:
            messages = [e.message for e in Event.select().where(Event.cluster == c.id)]
            assert sum("network last has no free address" in m for m in messages) == 1, messages
        # Destroying the failed ones frees their addresses, and the waiting ones get them.
        for c in failed:
            st.transition(c, st.DESTROYING, "api", "test")
        for _ in range(2):
            frameworks[0].step()
        assert all(Cluster.get_by_id(c.id).status == st.DESTROYED for c in failed)
        holders = {a.interface.node.cluster_id for a in
                   Address.select().join(Network).where(Network.name == "last")}
        assert holders == {c.id for c in waiting}
    finally:
        remove_platform_containers(docker_client, platform.settings.data_dir)


"""Launching (registration), cluster views, the queue, destroy, and tenant isolation."""
from __future__ import annotations

import pytest

from support.rest import TEMPLATE, P, add_product, add_user, as_user, ensure_networks, error


@pytest.fixture
def demo(client):
    ensure_networks()
    add_product(client)
    return client


def test_launch_registers_nodes_disks_networks_and_services(demo):
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": "3"})  # the seed's numeric string
    assert r.status_code == 202
    uri = "/bigdata/api/v1/clusters/admin/demo/1.0/1"
    assert r.headers["location"] == uri
    assert r.json == {"cluster": uri, "queue": r.json["queue"], "id": 1, "status": "registered"}
    cluster = demo.simulate_get(uri).json
    assert cluster["status"] == "registered" and cluster["dnsname"] == "demo-1.admin.bdp"
    assert cluster["options"] == {"size": 3, "cpu": 0.5, "mem": 256, "heap": 512}
    assert cluster["nodes"] == ["node1", "node2", "node3"] and cluster["services"] == ["all"]
    nodes = demo.simulate_get(uri + "/nodes").json["nodes"]
    assert [n["name"] for n in nodes] == ["node1", "node2", "node3"]
    n1 = nodes[0]
    assert (n1["status"], n1["cpu"], n1["mem"], n1["tags"], n1["check_ports"]) == ("queued", 0.5, 256, ["master"], [22])
    assert n1["disks"] == [{"name": "disk1", "destination": "/data/1", "mode": "rw", "type": "sata",
                            "disk": None, "path": None}]
    assert n1["networks"] == [{"device": "eth0", "networkname": "admin", "type": "dynamic", "address": None,
                              "subnet": None}]
    services = demo.simulate_get(uri + "/services").json["services"]
    assert services == [{"name": "all", "nodes": ["node1", "node2", "node3"], "properties": {"heap": 512}}]
    events = demo.simulate_get(uri + "/events").json["events"]
    assert events[0]["component"] == "api" and events[0]["message"].startswith("registered: 3 node(s)")
    job = demo.simulate_get(r.json["queue"]).json
    assert job["cluster"] == uri and job["kind"] == "launch" and job["status"] == "pending" and not job["done"]
    assert job["cluster_status"] == "registered" and job["who"] == "admin"


def test_cluster_ids_count_per_user_product_and_version(demo):
    add_product(demo, "demo", "2.0")
    bob = add_user(demo, "bob")
    ids = [demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).json["id"] for _ in range(3)]
    assert ids == [1, 2, 3]
    assert demo.simulate_post(f"{P}/products/demo/2.0", json={"size": 1}).json["id"] == 1
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}, headers=as_user(bob))
    assert r.json["cluster"].endswith("/clusters/bob/demo/1.0/1")
    assert len(demo.simulate_get(f"{P}/clusters").json["clusters"]) == 5
    assert len(demo.simulate_get(f"{P}/clusters/admin").json["clusters"]) == 4
    assert len(demo.simulate_get(f"{P}/clusters/admin/demo").json["clusters"]) == 4
    listed = demo.simulate_get(f"{P}/clusters/admin/demo/2.0").json["clusters"]
    assert [(c["version"], c["id"]) for c in listed] == [("2.0", 1)]


@pytest.mark.parametrize("body, field, needle", [
    ({}, "size", "'size' is required (for example 2)"),
    ({"size": 2, "colour": "red"}, "colour", "unknown option 'colour'"),
    ({"size": "two"}, "size", "must be an integer"),
    ({"size": True}, "size", "must be an integer"),
    ({"size": 2, "cpu": "fast"}, "cpu", "must be a number"),
    ({"size": 0}, "nodes", "nodes"),  # renders a cluster without nodes
    ({"size": 2, "mem": -1}, "nodes.node1.mem", "greater than or equal to 6"),
    ([1, 2], "body", "dictionary"),
])
def test_launch_option_errors_name_the_field(demo, body, field, needle):
    r = demo.simulate_post(f"{P}/products/demo/1.0", json=body)
    assert r.status_code == 400, r.text
    err = error(r)
    assert err["field"] == field and needle in err["message"]
    assert demo.simulate_get(f"{P}/clusters").json["clusters"] == []


def test_out_of_range_numbers_are_400_not_500(demo):
    r = demo.simulate_post(f"{P}/users/me/tokens", json={"name": "t", "expires_days": 1e9})
    assert r.status_code == 400 and error(r)["field"] == "expires_days", r.text
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "mem": 10**20})
    assert r.status_code == 400 and "mem" in error(r)["field"], r.text
    assert demo.simulate_get(f"{P}/clusters/admin/demo/1.0").json["clusters"] == []


def test_launch_body_must_be_json(demo):
    r = demo.simulate_post(f"{P}/products/demo/1.0", body="{size: 2", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in error(r)["message"]


def test_launch_unknown_network_names_node_interface_and_network(demo):
    r = demo.simulate_put(f"{P}/products/demo/1.0/template", body=TEMPLATE.replace('"admin"', '"backplane"'),
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 200  # networks may be created later: checked at launch
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 2})
    assert r.status_code == 400
    err = error(r)
    assert err["field"] == "nodes.node1.networks.eth0.networkname"
    assert "node1" in err["message"] and "eth0" in err["message"] and "'backplane'" in err["message"]


def test_launch_of_a_product_without_template_is_409(demo):
    demo.simulate_post(f"{P}/products", json={"name": "bare", "version": "1"})
    r = demo.simulate_post(f"{P}/products/bare/1", json={})
    assert r.status_code == 409 and error(r)["field"] == "template"
    assert demo.simulate_post(f"{P}/products/none/1", json={}).status_code == 404


def test_destroy_moves_to_destroying_and_repeats_harmlessly(demo):
    uri = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).headers["location"]
    r = demo.simulate_delete(uri)
    assert r.status_code == 202 and r.json["status"] == "destroying"
    job = demo.simulate_get(r.json["queue"]).json
    assert job["kind"] == "destroy" and job["status"] == "running" and not job["done"]
    assert job["cluster_status"] == "destroying"
    again = demo.simulate_delete(uri)
    assert again.status_code == 202 and again.json["queue"] == r.json["queue"]
    assert demo.simulate_get(uri).json["status"] == "destroying"
    messages = [e["message"] for e in demo.simulate_get(uri + "/events").json["events"]]
    assert messages[-1] == "destroying: destroy requested by admin" and len(messages) == 2


def test_missing_clusters_and_jobs_are_404(demo):
    for path in ("/clusters/admin/demo/1.0/1", "/clusters/admin/demo/1.0/x", "/clusters/admin/demo/1.0/1/nodes",
                 "/clusters/admin/demo/1.0/1/services", "/clusters/admin/demo/1.0/1/events", "/queue/99",
                 "/queue/abc", "/no/such/path"):
        r = demo.simulate_get(P + path)
        assert r.status_code == 404, path
        error(r)
    assert demo.simulate_delete(f"{P}/clusters/admin/demo/1.0/7").status_code == 404
    # Ids too large for any database column are simply not there (not a 500).
    huge = "99999999999999999999"
    for path in (f"/clusters/admin/demo/1.0/{huge}", f"/clusters/admin/demo/1.0/{huge}/logs",
                 f"/queue/{huge}"):
        assert demo.simulate_get(P + path).status_code == 404, path
    assert demo.simulate_post(f"{P}/clusters/admin/demo/1.0/{huge}/actions/status").status_code == 404
    assert demo.simulate_delete(f"{P}/users/admin/tokens/{huge}").status_code == 404
    r = demo.simulate_request("PUT", f"{P}/clusters")
    assert r.status_code == 405 and error(r)["message"] == f"PUT is not allowed on {P}/clusters"


def test_tenant_isolation(demo):
    alice, bob = add_user(demo, "alice"), add_user(demo, "bob")
    a_uri = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}, headers=as_user(alice)).headers["location"]
    a_job = demo.simulate_get(f"{P}/clusters/alice", headers=as_user(alice)).json["clusters"][0]
    assert a_job["uri"] == a_uri
    queue = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}, headers=as_user(alice)).json["queue"]
    b = as_user(bob)
    # Bob can neither read, list nor delete Alice's clusters, whether they exist or not.
    for path in (a_uri, a_uri + "/nodes", a_uri + "/services", a_uri + "/events", f"{P}/clusters/alice",
                 f"{P}/clusters/alice/demo", f"{P}/clusters/alice/demo/1.0", f"{P}/clusters/alice/demo/1.0/99"):
        r = demo.simulate_get(path, headers=b)
        assert r.status_code == 403, path
        assert "alice" in error(r)["message"]
    assert demo.simulate_delete(a_uri, headers=b).status_code == 403
    assert demo.simulate_get(queue, headers=b).status_code == 404
    assert demo.simulate_get(f"{P}/clusters", headers=b).json == {"clusters": [], "next": None}
    assert demo.simulate_get(a_uri, headers=as_user(alice)).json["status"] == "registered"
    # Alice sees only hers; the admin sees everyone's.
    demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}, headers=b)
    assert {c["user"] for c in demo.simulate_get(f"{P}/clusters", headers=as_user(alice)).json["clusters"]} == {"alice"}
    assert {c["user"] for c in demo.simulate_get(f"{P}/clusters").json["clusters"]} == {"alice", "bob"}
    assert demo.simulate_get(a_uri).status_code == 200
    assert demo.simulate_delete(a_uri, headers=as_user(alice)).status_code == 202


def test_registration_is_one_transaction(demo):
    """A database failure half-way through the inserts leaves nothing behind."""
    from api.core.models import Cluster, Job, Node, NodeDisk, db
    db.execute_sql("CREATE TRIGGER no_services BEFORE INSERT ON service "
                   "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 2})
    assert r.status_code == 500 and "unexpected" in error(r)["message"]
    assert [m.select().count() for m in (Cluster, Node, NodeDisk, Job)] == [0, 0, 0, 0]
    db.execute_sql("DROP TRIGGER no_services")
    assert demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 2}).json["id"] == 1


def test_concurrent_launches_get_distinct_ids_sqlite(demo, platform):
    _concurrent_launches(demo, 8)


def _concurrent_launches(client, n: int) -> None:
    import threading
    results, errors = [], []

    def go():
        try:
            r = client.simulate_post(f"{P}/products/demo/1.0", json={"size": 2})
            (results if r.status_code == 202 else errors).append(r.json if r.status_code == 202 else r.text)
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r["id"] for r in results) == list(range(1, n + 1))

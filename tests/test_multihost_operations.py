"""Day-2 operations on three real Docker hosts (the session's namespace hosts), through the
REST API of a real `bdp server` (issues 12 and 17 together): a resize places its new node
through the hosts' placement (spread, a drained host takes nothing, the tenant's
segment), a node whose host is partitioned away is lost and replaced by auto_replace on
another host with the same address, and the cluster is ready again; when the host
answers, the old container and the disk it left there go; scale-in and destroy give back
everything (disks, addresses, segments) on every host."""
from __future__ import annotations

import ipaddress

import pytest

from support.common import wait_for, wait_status
from support.multihost import clean, nodes, start_site, wait_nothing_left
from support.operations import run_op
from support.products import launch

SMALL = {"cpu": 0.25, "mem": 128}
GRACE = 3  # BDP_REPLACE_GRACE: a lost node is replaced 3 s after the platform sees it


@pytest.fixture
def site(testhosts, tmp_path, docker_client):
    from api.core.config import REPO_ROOT
    from api.engines import images
    images.ensure_product_image(REPO_ROOT / "products/reference/1.0.0", "reference", "1.0.0",
                                docker_client, log=lambda line: None)
    data_dir = tmp_path / "data"
    server = None
    try:
        server, hosts = start_site(data_dir, testhosts, env={"BDP_REPLACE_GRACE": str(GRACE)})
        yield server, hosts, data_dir
    finally:
        if server is not None:
            server.stop()
        clean(testhosts, data_dir, docker_client)


def _disks(http, host: str) -> list[dict]:
    return http.get(f"/hosts/{host}/disks").json()


def _messages(http, path: str) -> list[str]:
    return [e["message"] for e in http.get(f"{path}/events").json()["events"]]


def test_a_lost_hosts_node_is_replaced_elsewhere_by_auto_replace_and_the_rest_given_back(site, testhosts):
    server, hosts, data_dir = site
    http = server.http()
    path = launch(http, "reference", "1.0.0", {"size": 3, "disks": 1, "auto_replace": True, **SMALL})
    wait_status(http, path, {"ready"}, timeout=600)
    first = nodes(http, path)
    assert sorted(n["host"] for n in first.values()) == ["node-a", "node-b", "node-c"]  # spread
    victim = next(n for n in first.values() if n["host"] == "node-c")
    subnet = ipaddress.ip_network(victim["networks"][0]["subnet"])

    # Scale-out with node-c drained: the new node goes to another host, on the tenant's
    # segment, and is configured.
    assert http.patch("/hosts/node-c", json={"state": "drain"}).json()["state"] == "drain"
    try:
        done = run_op(http, path, "resize", options={"size": 4}, timeout=300)
        assert done["status"] == "succeeded", done
    finally:
        http.patch("/hosts/node-c", json={"state": "active"})
    grown = nodes(http, path)
    added = grown["node4"]
    assert added["status"] == "running" and added["host"] in ("node-a", "node-b"), added
    assert ipaddress.ip_address(added["networks"][0]["address"]) in subnet
    assert wait_status(http, path, {"ready"}, timeout=60)["health"]["status"] == "healthy"

    # node-c is partitioned away: lost, its node lost, the cluster degraded; auto_replace
    # recreates the node on another host with the same name and address, and the
    # playbook makes it rejoin: ready and healthy again.
    node_c = hosts["node-c"]
    testhosts.partition(node_c)
    try:
        wait_for(lambda: http.get("/hosts/node-c").json()["state"] == "lost", 30, interval=0.5,
                 message="node-c lost")

        def replaced():
            ops = http.get(f"{path}/operations").json()["operations"]
            mine = [o for o in ops if o["op"] == "replace" and o["who"] == "platform (auto_replace)"]
            return mine and mine[-1]["status"] in ("succeeded", "failed") and mine[-1]
        op = wait_for(replaced, 300, interval=1, message="auto_replace's replace to end")
        assert op["status"] == "succeeded", op
        assert op["params"] == {"nodes": [victim["name"]]}
        now = nodes(http, path)[victim["name"]]
        assert now["status"] == "running" and now["host"] in ("node-a", "node-b"), now
        assert now["networks"][0]["address"] == victim["networks"][0]["address"]
        assert now["id"] != victim["id"] and now["disks"][0]["path"] != victim["disks"][0]["path"]
        view = wait_status(http, path, {"ready"}, timeout=60)
        assert view["health"] == {"status": "healthy", "problems": []}, view["health"]
        # The old disk stays held while node-c is away: nothing handed out under it.
        assert [d["owner"]["node"] for d in _disks(http, "node-c") if d["status"] == "used"] == \
            [victim["name"]]
        events = _messages(http, path)
        assert any(m.startswith("host node-c lost") and victim["name"] in m for m in events), events
    finally:
        testhosts.heal(node_c)

    # node-c answers again: the old container is removed there, its disk cleaned and freed.
    wait_for(lambda: http.get("/hosts/node-c").json()["state"] == "active", 60, message="node-c back")
    client = node_c.client()
    dn = http.get(path).json()["dn"]
    wait_for(lambda: not client.containers.list(all=True, filters={"label": f"org.bdp.cluster-dn={dn}"}),
             60, message="the old container on node-c removed")
    wait_for(lambda: all(d["status"] == "free" for d in _disks(http, "node-c")), 30,
             message="node-c's disks free")
    events = _messages(http, path)
    assert any(m.startswith(f"host node-c: the old container of node {victim['name']} was removed")
               for m in events), events
    assert nodes(http, path)[victim["name"]]["status"] == "running"

    # Scale-in gives node4's disk and addresses back on its host.
    done = run_op(http, path, "resize", options={"size": 3}, timeout=300)
    assert done["status"] == "succeeded", done
    assert "node4" not in nodes(http, path)
    assert not [d for d in _disks(http, added["host"]) if d["status"] == "used"
                and d["owner"]["node"] == "node4"]
    used = http.get("/networks/admin/addresses", params={"used": ""}).json()
    assert added["networks"][0]["address"] not in {a["address"] for a in used}

    assert http.delete(path).status_code == 202
    wait_status(http, path, {"destroyed"}, timeout=180)
    wait_nothing_left(testhosts, data_dir, timeout=60)
    for host in hosts:
        assert all(d["status"] == "free" for d in _disks(http, host)), host

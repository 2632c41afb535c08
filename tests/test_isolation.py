"""One host (the embedded local engine, no host registered), two tenants: each user's
clusters get segments of their own, one docker bridge each, so another user's node
answers neither ping nor SSH while the platform still reaches every node; and a node
that dies degrades its ready cluster's health instead of hiding behind `ready`."""
from __future__ import annotations

import pytest

from support.common import wait_for, wait_status
from support.products import FAST, launch
from support.server import ServerProcess, remove_platform_containers


def _token(http, name: str) -> str:
    assert http.post("/users", json={"name": name, "role": "user"}).status_code == 201
    return http.post(f"/users/{name}/tokens", json={"name": "t"}).json()["token"]


@pytest.fixture(scope="module")
def tenants(tmp_path_factory, docker_client):
    """A server with a ready two-node reference cluster for alice and one for bob."""
    data_dir = tmp_path_factory.mktemp("tenants") / "data"
    server = ServerProcess(data_dir, env=FAST)
    try:
        server.start()
        admin = server.http()
        found = {}
        for user in ("alice", "bob"):
            http = server.http(_token(admin, user))
            path = launch(http, "reference", "1.0.0", {"size": 2, "disks": 0, "cpu": 0.25, "mem": 128})
            found[user] = (http, path)
        for http, path in found.values():
            assert wait_status(http, path, {"ready"}, timeout=300)["status"] == "ready"
        yield found
    finally:
        server.stop()
        remove_platform_containers(docker_client, data_dir)


def _nodes(http, path):
    return http.get(f"{path}/nodes").json()["nodes"]


def test_another_users_node_is_unreachable_on_one_host(tenants, docker_client):
    alice, bob = _nodes(*tenants["alice"]), _nodes(*tenants["bob"])
    assert {n["host"] for n in alice + bob} == {docker_client.info()["Name"]}
    assert alice[0]["networks"][0]["subnet"] != bob[0]["networks"][0]["subnet"]

    def probe(src, address, port=22):
        c = docker_client.containers.get(src["id"])
        ping = c.exec_run(["ping", "-c", "1", "-W", "1", address]).exit_code == 0
        tcp = c.exec_run(["timeout", "3", "bash", "-c", f"echo > /dev/tcp/{address}/{port}"]).exit_code == 0
        return ping, tcp
    for iface in bob[0]["networks"]:
        assert probe(alice[0], iface["address"]) == (False, False), iface
    assert probe(alice[0], alice[1]["networks"][0]["address"]) == (True, True)
    assert probe(bob[0], bob[1]["networks"][1]["address"]) == (True, True)


def test_a_dead_node_degrades_a_ready_clusters_health(tenants, docker_client):
    http, path = tenants["bob"]
    assert http.get(path).json()["health"] == {"status": "healthy", "problems": []}
    victim = _nodes(http, path)[1]
    docker_client.containers.get(victim["id"]).remove(force=True)
    view = wait_for(lambda: (v := http.get(path).json())["health"]["status"] == "degraded" and v, 30,
                    message="a degraded health")
    assert view["status"] == "ready"  # the lifecycle status is not the health
    (problem,) = view["health"]["problems"]
    assert problem["node"] == victim["name"] and problem["status"] == "failed"
    assert "container disappeared" in problem["reason"]
    events = [e["message"] for e in http.get(f"{path}/events").json()["events"]]
    assert f"health degraded: node {victim['name']} failed" in events

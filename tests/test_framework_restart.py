"""Crash safety: a `bdp server` killed with SIGKILL while scheduling (and again while
destroying) is restarted; every cluster converges and no container is left behind."""
from __future__ import annotations

import time

from api.core.config import Settings
from api.engines.base import LABEL_CLUSTER, LABEL_PLATFORM, NodeSpec
from api.engines.docker import DockerEngine
from support.common import wait_for

ENV = {"BDP_LEASE_SECONDS": "3", "BDP_DISKS": "8", "BDP_POLL_INTERVAL": "0.5"}
LAUNCH = {"size": 2, "disks": 1, "cpu": 0.25, "mem": 128}


def platform_containers(docker_client, data_dir) -> list:
    # sparse: no inspect per container, which fails on one listed mid-creation (seen: 404).
    return docker_client.containers.list(all=True, sparse=True,
                                         filters={"label": f"{LABEL_PLATFORM}={data_dir}"})


def test_kill9_mid_scheduling_and_mid_destroy_then_restart_converges(server_factory, docker_client, tmp_path):
    data_dir = tmp_path / "data"
    server = server_factory(data_dir, env=ENV).start()
    with server.http() as http:
        uris = []
        for _ in range(3):
            r = http.post("/products/reference/1.0.0", json=LAUNCH)
            assert r.status_code == 202, r.text
            uris.append(r.headers["location"].removeprefix("/bigdata/api/v1"))
        # Kill as soon as the first containers exist: mid-scheduling.
        wait_for(lambda: platform_containers(docker_client, data_dir), 120, interval=0.05,
                 message="a first node container")
        statuses = [http.get(u).json()["status"] for u in uris]
    server.kill9()
    assert "scheduling" in statuses or "registered" in statuses, statuses

    # An orphan: a container of this platform whose cluster the registry never had.
    engine = DockerEngine(Settings(data_dir=data_dir))
    orphan = engine.start_node(NodeSpec(cluster_id=999, cluster_dn="clusters/x/y/1/999", name="ghost",
                                        host="", image="bdp/base:bookworm", cpu=0.25, mem=64))

    server = server_factory(data_dir, env=ENV).start()
    with server.http() as http:
        def converged():
            views = [http.get(u).json() for u in uris]
            return all(v["status"] not in ("registered", "scheduling") for v in views) and views
        views = wait_for(converged, 180, interval=0.5, message="every cluster past scheduling")
        for uri, view in zip(uris, views):
            events = [e["message"] for e in http.get(uri + "/events").json()["events"]]
            assert any(m.startswith("scheduled") for m in events), (view, events)
            nodes = http.get(uri + "/nodes").json()["nodes"]
            for node in nodes:
                container = docker_client.containers.get(node["id"])  # the one the registry names
                assert container.status == "running" and container.labels[LABEL_CLUSTER]
        wait_for(lambda: not [c for c in platform_containers(docker_client, data_dir) if c.id == orphan],
                 30, message="the orphan container reaped")
        # Exactly one container per node: adopted, never duplicated.
        assert len(platform_containers(docker_client, data_dir)) == 6

        for uri in uris:
            assert http.delete(uri).status_code == 202
        time.sleep(0.3)
    server.kill9()
    server = server_factory(data_dir, env=ENV).start()
    with server.http() as http:
        wait_for(lambda: all(http.get(u).json()["status"] == "destroyed" for u in uris), 120,
                 message="every cluster destroyed")
        for name in ("admin", "storage"):
            assert http.get(f"/networks/{name}/addresses?used").json() == []
        host = http.get("/hosts").json()[0]["name"]
        assert all(d["status"] == "free" for d in http.get(f"/hosts/{host}/disks").json())
    assert platform_containers(docker_client, data_dir) == []

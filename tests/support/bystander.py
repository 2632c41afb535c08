"""Another platform on the same Docker Engine, as a user's `make run` would be: its own
data directory and a live cluster with the same dn as one the suite launches
(clusters/admin/slurm/22.05/1). The suite must never see, count or remove what it owns;
`check()` says whether its containers and networks are exactly as they were."""
from __future__ import annotations

from support.common import wait_status
from support.server import ServerProcess, remove_platform_containers

PRODUCT, VERSION = "slurm", "22.05"
DN = f"clusters/admin/{PRODUCT}/{VERSION}/1"


class Bystander:
    def __init__(self, docker_client, data_dir):
        self.docker = docker_client
        self.server = ServerProcess(data_dir, env={"BDP_POLL_INTERVAL": "0.5", "BDP_READY_TIMEOUT": "300"})
        self.label = f"org.bdp.platform={data_dir}"
        self.before: dict = {}

    def start(self) -> "Bystander":
        self.server.start()
        with self.server.http() as http:
            r = http.post(f"/products/{PRODUCT}/{VERSION}", json={"size": 1})
            assert r.status_code == 202, r.text
            assert r.json()["cluster"].endswith(DN), r.json()
            wait_status(http, "/" + DN, {"ready"}, timeout=600)
        self.before = self.snapshot()
        assert len(self.before["containers"]) == 2 and self.before["networks"], self.before
        return self

    def snapshot(self) -> dict:
        containers = {c.id: c.status for c in self.docker.containers.list(
            all=True, filters={"label": self.label})}
        networks = {n.id for n in self.docker.networks.list(filters={"label": self.label})}
        return {"containers": containers, "networks": networks}

    def check(self) -> None:
        now = self.snapshot()
        assert now == self.before, f"another platform's engine objects changed: {self.before} -> {now}"
        with self.server.http() as http:
            assert http.get("/" + DN).json()["status"] == "ready"

    def stop(self) -> None:
        self.server.stop()
        remove_platform_containers(self.docker, self.server.data_dir)

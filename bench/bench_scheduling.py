"""Scheduling (issue 3): `registered` -> `scheduled` for 10 and 20 nodes, against
`docker-compose up -d` of the same containers on the same engine, in one run.

Both sides start the same containers: image bdp/reference:1.0.0, 0.25 cpu, 128 MB,
hostname = node name, static addresses on the admin (eth0) and storage (eth1) networks,
one bind-mounted data disk, the authorized-keys environment. The framework's time also
includes placement, address and disk allocation and waiting for every node's port 22;
compose only starts the containers. Run: `.venv/bin/python -m bench scheduling`.
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from bench import harness, report

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Scheduling (issue 3)"
SIZES = (10, 20)
RUNS = 2  # per size and side; the table shows the median
OPTIONS = {"disks": 1, "cpu": 0.25, "mem": 128}


def _wait_status(cluster_id: int, wanted: set[str]) -> str:
    return harness.wait_status(cluster_id, wanted, timeout=300, interval=0.01)


class Bench(harness.ControllerBench):
    def __init__(self, workdir: Path):
        super().__init__(workdir, disks=max(SIZES), poll_interval=0.2, orchestrator=False)

    def framework_run(self, size: int) -> tuple[float, float, list[dict]]:
        """Seconds from registration to every container started and to `scheduled`, and
        the nodes as the registry has them."""
        from api.clusters.registration import destroy, launch
        from api.clusters.views import cluster_nodes
        from api.core.models import Cluster, Product
        product = Product.get((Product.name == "reference") & (Product.version == "1.0.0"))
        started = time.perf_counter()
        _uri, seq, _job = launch(self.platform, self.user, product, {"size": size, **OPTIONS})
        cluster = Cluster.get((Cluster.user == self.user) & (Cluster.product == product)
                              & (Cluster.seq == seq))
        from api.core.models import Node
        pending = Node.select().where((Node.cluster == cluster.id) & (Node.container_id == ""))
        while pending.count():
            time.sleep(0.01)
        containers = time.perf_counter() - started
        _wait_status(cluster.id, {"scheduled", "configuring", "configured", "ready"})
        elapsed = time.perf_counter() - started
        nodes = cluster_nodes(cluster.id)
        nodes = [{**n, "env": self._env(cluster)} for n in nodes]
        destroy(self.user, cluster)
        self.platform.wake("framework")
        _wait_status(cluster.id, {"destroyed"})
        return containers, elapsed, nodes

    def _env(self, cluster) -> str:
        from api.clusters import keys as sshkeys
        return "\n".join(sshkeys.authorized_keys(self.settings, cluster))

    def compose_file(self, project: str, nodes: list[dict]) -> Path:
        engine = self.platform.engine
        services = {}
        for n in nodes:
            nets = {}
            for priority, iface in zip((100, 10), n["networks"]):
                nets[iface["networkname"]] = {"ipv4_address": iface["address"], "priority": priority}
            volumes = []
            for d in n["disks"]:
                origin = self.workdir / "compose-disks" / project / n["name"] / d["name"]
                origin.mkdir(parents=True, exist_ok=True)
                volumes.append(f"{origin}:{d['destination']}:rw")
            services[n["name"]] = {
                "image": n["docker_image"], "container_name": f"{project}-{n['name']}",
                "hostname": n["name"], "cpus": n["cpu"], "mem_limit": f"{n['mem']}m",
                "environment": {"BDP_AUTHORIZED_KEYS": n["env"]}, "volumes": volumes,
                "networks": nets}
        doc = {"version": "2.4", "services": services,
               "networks": {name: {"external": True, "name": engine.network_name(name)}
                            for name in ("admin", "storage")}}
        path = self.workdir / f"{project}.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    def compose_run(self, size: int, nodes: list[dict], run: int) -> tuple[float, float]:
        """Seconds for `docker-compose up -d`, and until every node's port 22 answers."""
        project = f"bdpbench{size}r{run}"
        path = self.compose_file(project, nodes)
        cmd = ["docker-compose", "-p", project, "-f", str(path)]
        started = time.perf_counter()
        up = subprocess.run([*cmd, "up", "-d"], capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if up.returncode != 0:
            subprocess.run([*cmd, "down", "-t", "1"], capture_output=True)
            raise RuntimeError(f"docker-compose up failed: {up.stderr[-2000:]}")
        from api.framework.launch import port_open
        for n in nodes:
            while not port_open(n["networks"][0]["address"], 22):
                time.sleep(0.05)
        answering = time.perf_counter() - started
        down = subprocess.run([*cmd, "down", "-t", "1"], capture_output=True, text=True)
        if down.returncode != 0:
            raise RuntimeError(f"docker-compose down failed: {down.stderr[-2000:]}")
        return elapsed, answering


def measure() -> list[dict]:
    if not shutil.which("docker-compose"):
        raise SystemExit("docker-compose is missing: apt-get install -y docker-compose (make bench does)")
    workdir = Path(tempfile.mkdtemp(prefix="bdp-bench-sched-"))
    bench = Bench(workdir)
    try:
        _, _, nodes = bench.framework_run(2)  # warm-up: keys, first network attach, caches
        bench.compose_run(2, nodes, 0)
        results = []
        for size in SIZES:
            runs = []
            for run in range(1, RUNS + 1):
                started, scheduled, nodes = bench.framework_run(size)
                up, answering = bench.compose_run(size, nodes, run)
                runs.append((started, scheduled, up, answering))
            med = [statistics.median(r[i] for r in runs) for i in range(4)]
            results.append({"size": size, "started": med[0], "scheduled": med[1], "compose": med[2],
                            "compose_ports": med[3], "ratio": med[1] / med[2],
                            "ratio_ports": med[1] / med[3]})
        return results
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)


def table(results: list[dict]) -> str:
    rows = ["| nodes | framework: containers started | framework: `scheduled` (port 22 answering) "
            "| `docker-compose up -d` | compose + port 22 answering | ratio scheduled / up -d "
            "| ratio like for like (ports) |",
            "|---|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['size']} | {r['started']:.2f} s | {r['scheduled']:.2f} s | {r['compose']:.2f} s "
                    f"| {r['compose_ports']:.2f} s | {r['ratio']:.2f} | {r['ratio_ports']:.2f} |")
    verdict = "meets" if all(r["ratio"] <= 1.0 for r in results) else "misses"
    rows += ["", f"Median of {RUNS} runs per size. Target: ratio scheduled / `up -d` <= 1.0 ({verdict}). "
             "`scheduled` includes placement, address and disk allocation and every node answering on "
             "port 22 (the node entrypoint generates one ed25519 host key, so sshd answers within a "
             "fraction of a second of the start); `up -d` ends when the containers are started, so "
             "the last column (compose until every port 22 answers) compares like with like."]
    return "\n".join(rows)


COMMAND = "`make bench` or `.venv/bin/python -m bench scheduling`"
CONDITIONS = ("(2 cores, shared), docker-compose 1.29 (Debian), same image, limits, networks, "
              "static addresses and mounts on the same engine")


def main() -> int:
    results = measure()
    report.publish(HEADING, COMMAND, CONDITIONS, table(results))
    return 0 if all(r["ratio"] <= 1.0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

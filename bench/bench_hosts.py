"""Several hosts (issue 17): `registered` -> `scheduled` for 30 reference nodes spread over
3 real Docker hosts, against `docker-compose up -d` of the same 30 containers on one of
those hosts' daemons, in one run.

The hosts are network namespaces with their own dockerd on one L2 segment
(scripts/testhosts.sh, prefix bdpbench), registered with an in-process platform whose
framework runs as `bdp server` runs it. Both sides start the same containers: image
bdp/reference:1.0.0, 0.25 cpu, 128 MB, hostname = node name, static addresses on two
networks (the platform: the tenant's admin and storage segments, VXLANs spanning the
hosts; compose: two bridges on its daemon), one bind-mounted data disk, the same
environment. The framework's time also includes placement, address and disk allocation,
the segments on every host and every node's port 22 answering; compose only starts the
containers. The image is on every host before either side is timed (a warm-up cluster
sends it). Run: `.venv/bin/python -m bench hosts`.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from bench import harness, report

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Several hosts (issue 17)"
SIZE = 30
HOSTS = 3
RUNS = 3
OPTIONS = {"disks": 1, "cpu": 0.25, "mem": 128}
PREFIX = "bdpbench"
ENV = {"BDP_TESTHOSTS_PREFIX": PREFIX, "BDP_TESTHOSTS_DIR": f"/var/tmp/{PREFIX}"}


def testhosts(*args: str) -> list[dict]:
    done = subprocess.run(["bash", str(REPO / "scripts" / "testhosts.sh"), *args],
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"testhosts.sh {' '.join(args)}: {done.stderr[-2000:]}")
    return [dict(zip(("name", "address", "url", "socket", "state"), line.split()))
            for line in done.stdout.splitlines()]


class Bench(harness.ControllerBench):
    def __init__(self, workdir: Path, hosts: list[dict]):
        # Pools far from where other platforms on this machine take their /24s.
        os.environ.setdefault("BDP_ADMIN_SUBNET", "10.216.0.0/16")
        os.environ.setdefault("BDP_STORAGE_SUBNET", "10.217.0.0/16")
        super().__init__(workdir, disks=4, poll_interval=0.2, orchestrator=False)
        from api.infra import host_registration as registration
        for i, h in enumerate(hosts):
            paths = [str(workdir / "disks" / f"h{i}" / f"d{d}") for d in range(SIZE)]
            registration.register(self.platform.engine, registration.parse_host(
                {"name": f"host{i + 1}", "url": h["url"], "disks": paths}))
        self.framework.monitor.probe()
        self.hosts = hosts

    def framework_run(self, size: int) -> tuple[float, list[dict]]:
        """Seconds from registration to `scheduled`, and the nodes as the registry has them."""
        from api.clusters.registration import launch
        from api.core.models import Cluster, Product
        product = Product.get((Product.name == "reference") & (Product.version == "1.0.0"))
        started = time.perf_counter()
        _uri, seq, _job = launch(self.platform, self.user, product, {"size": size, **OPTIONS})
        cluster = Cluster.get((Cluster.user == self.user) & (Cluster.product == product)
                              & (Cluster.seq == seq))
        harness.wait_status(cluster.id, {"scheduled", "configuring", "configured", "ready"},
                            timeout=600, interval=0.01)
        elapsed = time.perf_counter() - started
        return elapsed, cluster

    def destroy(self, cluster) -> None:
        from api.clusters.registration import destroy
        destroy(self.user, cluster)
        self.platform.wake("framework")
        harness.wait_status(cluster.id, {"destroyed"}, timeout=300, interval=0.05)

    def compose_run(self, nodes: list[dict], run: int) -> float:
        """Seconds for `docker-compose up -d` of the same containers on the first host."""
        project = f"bdpbenchhosts{run}"
        services = {}
        for i, n in enumerate(nodes):
            origin = self.workdir / "compose-disks" / project / n["name"]
            origin.mkdir(parents=True, exist_ok=True)
            services[n["name"]] = {
                "image": "bdp/reference:1.0.0", "container_name": f"{project}-{n['name']}",
                "hostname": n["name"], "cpus": n["cpu"], "mem_limit": f"{n['mem']}m",
                "environment": {"BDP_AUTHORIZED_KEYS": "ssh-ed25519 AAAA bench"},
                "volumes": [f"{origin}:/data/1:rw"],
                "networks": {"admin": {"ipv4_address": f"172.30.0.{10 + i}", "priority": 100},
                             "storage": {"ipv4_address": f"172.31.0.{10 + i}", "priority": 10}}}
        doc = {"version": "2.4", "services": services, "networks": {
            name: {"ipam": {"config": [{"subnet": subnet}]}}
            for name, subnet in (("admin", "172.30.0.0/24"), ("storage", "172.31.0.0/24"))}}
        path = self.workdir / f"{project}.yml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        env = {**os.environ, "DOCKER_HOST": self.hosts[0]["url"]}
        cmd = ["docker-compose", "-p", project, "-f", str(path)]
        started = time.perf_counter()
        up = subprocess.run([*cmd, "up", "-d"], capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - started
        down = subprocess.run([*cmd, "down", "-t", "1"], capture_output=True, text=True, env=env)
        if down.returncode != 0:
            self._force_down(project)  # docker 20.10 may keep a stale endpoint of a removed container
        if up.returncode != 0:
            raise RuntimeError(f"docker-compose up failed: {up.stderr[-1500:]}")
        return elapsed

    def _force_down(self, project: str) -> None:
        import docker
        client = docker.DockerClient(base_url=self.hosts[0]["url"], timeout=60)
        for c in client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project}"}):
            c.remove(force=True)
        for net in client.networks.list(names=[f"{project}_admin", f"{project}_storage"]):
            for endpoint in (client.api.inspect_network(net.id).get("Containers") or {}):
                client.api.disconnect_container_from_network(endpoint, net.id, force=True)
            net.remove()


def measure() -> dict:
    from api.clusters.views import cluster_nodes
    if not shutil.which("docker-compose"):
        raise SystemExit("docker-compose is missing: apt-get install -y docker-compose (make bench does)")
    workdir = Path(tempfile.mkdtemp(prefix="bdp-bench-hosts-", dir="/var/tmp"))
    hosts = testhosts("up", str(HOSTS))
    bench = None
    try:
        bench = Bench(workdir, hosts)
        _, warm = bench.framework_run(HOSTS)  # sends the image to every host
        bench.destroy(warm)
        runs = []
        for run in range(1, RUNS + 1):
            scheduled, cluster = bench.framework_run(SIZE)
            nodes = cluster_nodes(cluster.id)
            per_host = sorted({n["host"] for n in nodes})
            bench.destroy(cluster)
            up = bench.compose_run(nodes, run)
            runs.append((scheduled, up))
        med = [statistics.median(r[i] for r in runs) for i in range(2)]
        return {"scheduled": med[0], "compose": med[1], "ratio": med[0] / med[1], "runs": runs,
                "hosts": per_host}
    finally:
        if bench is not None:
            from api.engines import vxlan
            low = bench.settings.vni_base
            bench.close()
            for vni in vxlan.local_vnis(low, low + bench.settings.VNI_SPAN):
                vxlan.remove_local(vni)  # left only if a run failed half way
        testhosts("down")
        shutil.rmtree(workdir, ignore_errors=True)


def table(r: dict) -> str:
    runs = "; ".join(f"{s:.2f} s vs {u:.2f} s" for s, u in r["runs"])
    verdict = "meets" if r["ratio"] <= 1.0 else "misses"
    return "\n".join([
        "| nodes | hosts | framework: `registered` -> `scheduled` | `docker-compose up -d` on one "
        "host's daemon | ratio |",
        "|---|---|---|---|---|",
        f"| {SIZE} | {len(r['hosts'])} | {r['scheduled']:.2f} s | {r['compose']:.2f} s | {r['ratio']:.2f} |",
        "",
        f"Median of {RUNS} runs ({runs}). Target: ratio <= 1.0 ({verdict}). `scheduled` includes "
        "placement, address and disk allocation, the tenant's VXLAN segments on every host and "
        "every node answering on port 22 from the platform host; `up -d` ends when the "
        "containers are started."])


COMMAND = "`make bench` or `.venv/bin/python -m bench hosts` (as root: it builds the hosts)"
CONDITIONS = (f"(2 cores, shared), {HOSTS} namespace hosts with their own dockerd "
              "(scripts/testhosts.sh), docker-compose 1.29 (Debian), same image, limits, two "
              "networks with static addresses and one mount on each side")


def main() -> int:
    results = measure()
    report.publish(HEADING, COMMAND, CONDITIONS, table(results))
    return 0 if results["ratio"] <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())

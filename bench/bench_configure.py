"""Configuration (issue 4): `scheduled` -> `ready` for the reference product at 3 and 10
nodes, against `ansible-playbook` run by hand with the same inventory and playbook, in
the same run, on the same containers.

The orchestrator's time runs from the `scheduled` event (framework) to the `ready` event:
pick-up, the run directory, ansible-runner with tag `start`, then tag `status` (the
readiness check), and the registry writes in between. The hand run is the same two
commands, `ansible-playbook -i hosts.yml playbook.yml -t start` then `-t status`, with the
inventory the orchestrator generates and the same ansible settings, starting from fresh
SSH connections like the orchestrator's. Run: `.venv/bin/python -m bench configure`.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench import harness, report

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Configuration (issue 4)"
SIZES = (3, 10)
RUNS = 2  # per size; the table shows the median
OPTIONS = {"disks": 1, "cpu": 0.25, "mem": 128}
TARGET = 0.10  # overhead over the hand run


def _wait_status(cluster_id: int, wanted: set[str]) -> str:
    return harness.wait_status(cluster_id, wanted, timeout=600, interval=0.05)


def _event_time(cluster_id: int, status: str):
    from api.core.models import Event
    event = (Event.select().where((Event.cluster == cluster_id) & (Event.message.startswith(status)))
             .order_by(Event.id).first())
    if event is None:
        raise RuntimeError(f"no {status!r} event for cluster {cluster_id}")
    return event.time


class Bench(harness.ControllerBench):
    def __init__(self, workdir: Path):
        super().__init__(workdir, disks=max(SIZES), poll_interval=0.5, orchestrator=True)

    def orchestrator_run(self, size: int):
        """Seconds from `scheduled` to `ready`, and the cluster (left running)."""
        from api.clusters.registration import launch
        from api.core.models import Cluster, Product
        product = Product.get((Product.name == "reference") & (Product.version == "1.0.0"))
        _uri, seq, _job = launch(self.platform, self.user, product, {"size": size, **OPTIONS})
        cluster = Cluster.get((Cluster.user == self.user) & (Cluster.product == product)
                              & (Cluster.seq == seq))
        _wait_status(cluster.id, {"ready"})
        elapsed = (_event_time(cluster.id, "ready") - _event_time(cluster.id, "scheduled")).total_seconds()
        return elapsed, cluster

    def hand_run(self, cluster, run: int) -> float:
        """`ansible-playbook -t start` then `-t status`, as a person would run them."""
        from api.clusters.keys import private_key_path
        from api.orchestrator.controller import Orchestrator
        from api.orchestrator.inventory import registry_inventory
        here = self.workdir / f"hand-{cluster.id}-{run}"
        (here / "cp").mkdir(parents=True)
        inventory = here / "hosts.yml"
        inventory.write_text(yaml.safe_dump(registry_inventory(cluster, extra_vars={
            "ansible_ssh_private_key_file": str(private_key_path(self.settings, cluster.id)),
            "ansible_python_interpreter": "/usr/bin/python3"})))
        env = {**os.environ, **Orchestrator._envvars(here),
               "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
               # Fresh SSH masters: the orchestrator's runs start without any either.
               "ANSIBLE_SSH_CONTROL_PATH_DIR": str(here / "cp")}
        playbook = REPO / "products" / "reference" / "1.0.0" / "playbook.yml"
        nodes = cluster.nodes.count()
        started = time.perf_counter()
        for tag in ("start", "status"):
            done = subprocess.run(
                [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook),
                 "-t", tag, "-f", str(max(5, min(nodes, 50))), "-e", "bdp_ssh_timeout=120"],
                env=env, cwd=here, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"hand run ({tag}) failed:\n{done.stdout[-3000:]}")
        return time.perf_counter() - started

    def destroy(self, cluster) -> None:
        from api.clusters.registration import destroy
        destroy(self.user, cluster)
        self.platform.wake("framework")
        _wait_status(cluster.id, {"destroyed"})


def measure() -> list[dict]:
    workdir = Path(tempfile.mkdtemp(prefix="bdp-bench-conf-"))
    bench = Bench(workdir)
    try:
        _, cluster = bench.orchestrator_run(2)  # warm-up: keys, networks, ansible's caches
        bench.hand_run(cluster, 0)
        bench.destroy(cluster)
        results = []
        for size in SIZES:
            ours, theirs = [], []
            for run in range(1, RUNS + 1):
                elapsed, cluster = bench.orchestrator_run(size)
                ours.append(elapsed)
                theirs.append(bench.hand_run(cluster, run))
                bench.destroy(cluster)
            orch, hand = statistics.median(ours), statistics.median(theirs)
            results.append({"size": size, "orchestrator": orch, "hand": hand,
                            "overhead": (orch - hand) / hand, "runs": (ours, theirs)})
        return results
    finally:
        bench.close()
        shutil.rmtree(workdir, ignore_errors=True)


def table(results: list[dict]) -> str:
    rows = ["| nodes | orchestrator: scheduled -> ready | ansible-playbook by hand (start + status) | overhead |",
            "|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r['size']} | {r['orchestrator']:.2f} s | {r['hand']:.2f} s | "
                    f"{r['overhead'] * 100:+.1f} % |")
    verdict = "meets" if all(r["overhead"] <= TARGET for r in results) else "misses"
    runs = "; ".join(f"{r['size']} nodes: orchestrator {', '.join(f'{x:.2f}' for x in r['runs'][0])} s, "
                     f"hand {', '.join(f'{x:.2f}' for x in r['runs'][1])} s" for r in results)
    rows += ["", f"Median of {RUNS} runs per size (each: {runs}). Target: overhead <= "
             f"{TARGET * 100:.0f} % ({verdict})."]
    return "\n".join(rows)


COMMAND = "`make bench` or `.venv/bin/python -m bench configure`"
CONDITIONS = ("(2 cores, shared with other work, so absolute times vary), ansible-core with "
              "pipelining and ControlPersist on both sides, forks = max(5, nodes), same inventory, "
              "playbook and containers")


def main() -> int:
    results = measure()
    report.publish(HEADING, COMMAND, CONDITIONS, table(results))
    return 0 if all(r["overhead"] <= TARGET for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

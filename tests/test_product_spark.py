"""Spark 4.3.0 standalone bundle: its memory rules as API errors, then end to end through
the REST API of a real `bdp server` (framework + orchestrator on the local Docker Engine):
every worker registers with the master, SparkPi runs on the cluster, a dead worker fails
the `status` action, `restart` repairs it, and destroy leaves nothing."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.common import REPO
from support.operations import run_op
from support.products import API, FAST, action, bundle_tests, destroy_and_check, launch_until_ready, run

BUNDLE = Path(__file__).resolve().parent.parent / "products" / "spark" / "4.3.0"
WORKERS = ["spark-worker1", "spark-worker2"]
PI = "/opt/spark/examples/src/main/python/pi.py"
# The master's web UI JSON, fetched inside the master node (the UI binds to its eth0).
MASTER_JSON = ("import json, subprocess, urllib.request; "
               "ip = subprocess.check_output(['hostname', '-i']).split()[0].decode(); "
               "print(urllib.request.urlopen(f'http://{ip}:8080/json/', timeout=10).read().decode())")


def test_spark_refuses_executors_that_cannot_fit_naming_the_rule(client):
    from api.catalog import bundle
    assert bundle.sync_bundles(BUNDLE) == {"spark/4.3.0": "created"}

    r = client.simulate_post(f"{API}/products/spark/4.3.0",
                             json={"workers": 1, "worker.mem": 768, "executor.memory": 1024})
    assert r.status_code == 400, r.text
    assert "executor.memory (1024) must fit in worker.mem - daemon.memory (512 MB)" in r.json["message"], r.json

    # The bundle's schema refuses it before the template's own rule would.
    r = client.simulate_post(f"{API}/products/spark/4.3.0", json={"workers": 0})
    assert r.status_code == 400 and r.json["message"] == "option 'workers' must be at least 1 (got 0)", r.text


def _addresses(http, path: str) -> dict[str, str]:
    nodes = http.get(f"{path}/nodes").json()
    nodes = nodes.get("nodes", nodes) if isinstance(nodes, dict) else nodes
    return {n["name"]: next(i["address"] for i in n["networks"] if i["device"] == "eth0") for n in nodes}


@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_spark_runs_sparkpi_detects_a_dead_worker_and_is_destroyed(server_factory, docker_client):
    server = server_factory(env=FAST).start()
    http = server.http()
    http.timeout = 600  # actions answer when their playbook run is over

    path, view, _ = launch_until_ready(http, "spark", "4.3.0", {
        "workers": len(WORKERS), "worker.cpu": 0.5, "worker.mem": 1024,
        "master.cpu": 0.5, "master.mem": 1024})
    dn = view["dn"]
    addresses = _addresses(http, path)

    # Every worker is registered with the master, ALIVE, offering what the options say.
    code, out = run(docker_client, server, dn, "spark-master", ["python3", "-c", MASTER_JSON])
    assert code == 0, out
    master = json.loads(out)
    assert master["status"] == "ALIVE", master
    assert master["url"] == f"spark://{addresses['spark-master']}:7077", master["url"]
    alive = [w for w in master["workers"] if w["state"] == "ALIVE"]
    assert sorted(w["host"] for w in alive) == sorted(addresses[w] for w in WORKERS), alive
    assert all(w["cores"] == 1 and w["memory"] == 1024 - 256 for w in alive), alive

    # The bundle's own proof workload (its tests/, as `bdp products test` runs them).
    bundle_tests(server, dn, REPO / "products" / "spark" / "4.3.0")

    # SparkPi, submitted as a user on the master would (spark-defaults.conf names the master).
    code, out = run(docker_client, server, dn, "spark-master", ["spark-submit", PI, "4"])
    assert code == 0, out[-3000:]
    assert "Pi is roughly 3.1" in out, out[-3000:]
    # Its executors ran on the workers.
    assert any(f"on hostPort {addresses[w]}:" in out for w in WORKERS), out[-3000:]

    # The worker dies on spark-worker2: the status action fails and names the node.
    code, out = run(docker_client, server, dn, "spark-worker2",
                    ["/opt/spark/sbin/spark-daemon.sh", "stop", "org.apache.spark.deploy.worker.Worker", "1"])
    assert code == 0, out
    result = action(http, path, "status")
    assert result["result"] == "failed", result
    assert "spark-worker2" in result["reason"], result["reason"]

    # restart (stop + start) brings every worker back.
    result = action(http, path, "restart")
    assert result["result"] == "successful" and result["status"] == "ready", result
    code, out = run(docker_client, server, dn, "spark-master", ["python3", "-c", MASTER_JSON])
    alive = [w for w in json.loads(out)["workers"] if w["state"] == "ALIVE"]
    assert sorted(w["host"] for w in alive) == sorted(addresses[w] for w in WORKERS), alive

    # Resize 2 -> 3 workers (issue 12): three ALIVE, and SparkPi runs on the new one too.
    done = run_op(http, path, "resize", 600, options={"workers": 3})
    assert done["status"] == "succeeded" and done["result"]["added"] == ["spark-worker3"], done
    addresses = _addresses(http, path)
    code, out = run(docker_client, server, dn, "spark-master", ["python3", "-c", MASTER_JSON])
    alive = [w for w in json.loads(out)["workers"] if w["state"] == "ALIVE"]
    three = [*WORKERS, "spark-worker3"]
    assert sorted(w["host"] for w in alive) == sorted(addresses[w] for w in three), alive
    code, out = run(docker_client, server, dn, "spark-master", ["spark-submit", PI, "6"])
    assert code == 0 and "Pi is roughly 3.1" in out, out[-3000:]

    destroy_and_check(http, docker_client, server, path, dn)

"""Dask distributed 2024.12.1 bundle: its options as API errors, then end to end through
the REST API of a real `bdp server`: every worker registered with the scheduler, a
computation spread over every worker (each ran tasks), the dashboard answering HTTP on the
scheduler node, a dead worker failing `status` and `start` bringing it back, then
destroyed with nothing left."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from support.common import ADMIN_TOKEN
from support.products import FAST, action, destroy_and_check, launch_until_ready, refused, run

BUNDLE = Path(__file__).resolve().parent.parent / "products" / "dask" / "2024.12.1"
WORKERS = ["dask-worker1", "dask-worker2"]

# Run on the scheduler node as a user who ssh'd in would: a client of the cluster.
COMPUTE = """
import json, sys, time
import dask.array as da
from distributed import Client, get_worker

client = Client(sys.argv[1], timeout=30)
client.wait_for_workers(len(sys.argv[2].split(",")), timeout=60)
total = da.ones((4000, 4000), chunks=(500, 500)).sum().compute()

def where(i):
    time.sleep(0.2)
    return get_worker().name

names = client.gather(client.map(where, range(20), pure=False))
print(json.dumps({"sum": int(total), "ran_on": sorted(set(names)),
                  "executed": client.run(lambda dask_worker: dask_worker.state.executed_count)}))
"""


def test_dask_options_are_checked_naming_the_option(client):
    from api.catalog import bundle
    assert bundle.sync_bundles(BUNDLE) == {"dask/2024.12.1": "created"}
    refused(client, "dask", "2024.12.1", {"workers": 0}, "workers")
    refused(client, "dask", "2024.12.1", {"workers": 1, "worker.threads": "many"}, "worker.threads")



def identity(dashboard):
    """The scheduler's identity from its dashboard. Dask's handler answers 500 for about one
    heartbeat after a computation (task digests with tuple keys): ask again, within 5 s."""
    for _ in range(10):
        reply = httpx.get(f"{dashboard}/json/identity.json", timeout=30)
        if reply.status_code != 500:
            break
        time.sleep(0.5)
    assert reply.status_code == 200, reply.text[:300]
    return reply.json()

@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_dask_spreads_a_computation_over_every_worker_serves_its_dashboard_and_is_destroyed(
        server_factory, docker_client):
    server = server_factory(env=FAST).start()
    http = server.http()
    http.timeout = 600

    path, view, _ = launch_until_ready(http, "dask", "2024.12.1", {"workers": len(WORKERS)})
    dn = view["dn"]
    nodes = http.get(path + "/nodes").json()["nodes"]
    address = {n["name"]: next(i["address"] for i in n["networks"] if i["device"] == "eth0") for n in nodes}
    services = {s["name"]: s for s in http.get(path + "/services").json()["services"]}
    scheduler = services["scheduler"]
    properties = scheduler.get("properties", scheduler)
    assert (properties["dashboard_port"], properties["dashboard_path"]) == (8787, "/status"), scheduler
    # The dashboard serves itself under the proxy's path of its endpoint.
    proxied = f"/bigdata/proxy/admin/dask/2024.12.1/{view['id']}/dask-dashboard"
    assert properties["dashboard_prefix"] == proxied, scheduler
    dashboard = f"http://{address['dask-scheduler']}:8787{proxied}"

    # A computation spread over every worker: the sum is right and each worker ran tasks.
    code, out = run(docker_client, server, dn, "dask-scheduler",
                    ["python3", "-c", COMPUTE, f"tcp://{address['dask-scheduler']}:8786", ",".join(WORKERS)])
    assert code == 0, out[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result["sum"] == 4000 * 4000, result
    assert result["ran_on"] == WORKERS, result
    assert len(result["executed"]) == len(WORKERS) and min(result["executed"].values()) > 0, result

    # Straight after a computation (when dask's identity handler briefly fails) status holds.
    result = action(http, path, "status")
    assert result["result"] == "successful" and result["status"] == "ready", result

    # The dashboard answers HTTP on the scheduler node (as a user on the platform host sees it).
    page = httpx.get(f"{dashboard}/status", timeout=30)
    assert page.status_code == 200 and "Dask" in page.text, page.status_code
    # And through the proxy, the endpoint's URL, with the page's own (absolute) links: the
    # scripts Bokeh's page loads answer too.
    endpoint = next(e for e in http.get(path + "/endpoints").json()["endpoints"] if e["name"] == "dask-dashboard")
    assert endpoint["url"] == f"{proxied}/status", endpoint
    token = {"x-auth-token": ADMIN_TOKEN}
    page = httpx.get(server.url + endpoint["url"], headers=token, timeout=30)
    assert page.status_code == 200 and "Dask" in page.text, page.status_code
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
    assert scripts and all(src.startswith(proxied + "/") for src in scripts if src.startswith("/")), scripts
    for src in scripts[:3]:
        assert httpx.get(urljoin(str(page.url), src), headers=token, timeout=30).status_code == 200, src
    info = identity(dashboard)
    assert sorted(w["name"] for w in info["workers"].values()) == WORKERS, info

    # A worker dies: status fails and names it; start brings it back.
    code, out = run(docker_client, server, dn, "dask-worker2", ["sh", "-c", "kill -9 $(cat /run/dask/dask.pid)"])
    assert code == 0, out
    result = action(http, path, "status")
    assert result["result"] == "failed" and result["status"] == "stopped", result
    assert "dask-worker2" in result["reason"], result["reason"]
    result = action(http, path, "start")
    assert result["result"] == "successful" and result["status"] == "ready", result
    info = identity(dashboard)
    assert sorted(w["name"] for w in info["workers"].values()) == WORKERS, info

    destroy_and_check(http, docker_client, server, path, dn)

"""Helpers for the product end-to-end tests: launch through the REST API of a real
`bdp server`, wait for a status, run commands in a node's container, destroy and check
that nothing of the cluster is left on the Docker Engine."""
from __future__ import annotations

import time

from support.common import wait_status

# Short poll/lease intervals; the readiness check may take a while on a loaded machine.
FAST = {"BDP_POLL_INTERVAL": "0.5", "BDP_LEASE_SECONDS": "10", "BDP_READY_TIMEOUT": "180",
        "BDP_START_TIMEOUT": "120"}
API = "/bigdata/api/v1"


def refused(client, product: str, version: str, options: dict, field: str) -> dict:
    """A launch through the falcon test client that must be a 400 naming `field`; its JSON."""
    r = client.simulate_post(f"{API}/products/{product}/{version}", json=options)
    assert r.status_code == 400 and r.json["field"] == field, r.text
    return r.json


def launch(http, product: str, version: str, options: dict) -> str:
    """POST the launch; returns the cluster's path under the API prefix."""
    r = http.post(f"/products/{product}/{version}", json=options)
    assert r.status_code == 202, r.text
    return r.json()["cluster"].split(API, 1)[1]



def launch_until_ready(http, product: str, version: str, options: dict) -> tuple[str, dict, float]:
    """Launch and wait for `ready`; returns (path, view, seconds from POST to ready)."""
    started = time.monotonic()
    path = launch(http, product, version, options)
    view = wait_status(http, path, {"ready"})
    elapsed = time.monotonic() - started
    print(f"{product} {version} {options}: launch to ready in {elapsed:.1f}s")
    return path, view, elapsed


def platform_label(server) -> str:
    """The label that marks what this test's platform owns on the engine: another
    platform on the same engine (a user's `make run`) may have a cluster with the same dn."""
    from api.engines.base import LABEL_PLATFORM
    return f"{LABEL_PLATFORM}={server.data_dir}"


def node_container(docker_client, server, dn: str, node: str):
    from api.engines.base import LABEL_DN, LABEL_NODE
    found = docker_client.containers.list(filters={"label": [
        platform_label(server), f"{LABEL_DN}={dn}", f"{LABEL_NODE}={node}"]})
    assert len(found) == 1, f"{dn} {node}: {found}"
    return found[0]


def run(docker_client, server, dn: str, node: str, command, user: str = "root") -> tuple[int, str]:
    """Run a command in a node's container (as a user who ssh'd in would)."""
    code, out = node_container(docker_client, server, dn, node).exec_run(command, user=user)
    return code, out.decode(errors="replace")


def action(http, path: str, name: str) -> dict:
    """The old action answer (result, status, reason, events), from the queued operation."""
    from support.operations import action as queued
    return queued(http, path, name)


def destroy_and_check(http, docker_client, server, path: str, dn: str) -> None:
    """DELETE the cluster, wait for `destroyed`, and find no container of it left."""
    from api.engines.base import LABEL_DN
    assert http.delete(path).status_code == 202
    wait_status(http, path, {"destroyed"}, timeout=180)
    left = docker_client.containers.list(all=True, filters={"label": [platform_label(server), f"{LABEL_DN}={dn}"]})
    assert left == [], f"containers left after destroy: {[c.name for c in left]}"


def bundle_tests(server, dn: str, bundle) -> str:
    """`bdp products test BUNDLE --cluster DN`: the bundle's own tests/ (its proof workload)
    against a live cluster, reaching the nodes with the platform's key of that cluster.
    Returns the command's output; a failing test fails the caller's test."""
    import os
    import subprocess
    import sys

    from support.common import ADMIN_TOKEN, REPO
    keys = server.data_dir / "keys"
    key = next(p.with_suffix("") for p in keys.glob("*.pub") if p.read_text().strip().endswith(f" bdp-{dn}"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("BDP_")},
           "BDP_URL": server.url, "BDP_TOKEN": ADMIN_TOKEN, "BDP_CONFIG": str(server.data_dir / "cli.json")}
    done = subprocess.run([sys.executable, "-m", "api.cli", "products", "test", str(bundle), "--cluster",
                           dn.removeprefix("clusters/"), "--identity", str(key)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0 and "FAIL" not in done.stdout, done.stdout + done.stderr
    assert "PASS tests/" in done.stdout, done.stdout
    return done.stdout

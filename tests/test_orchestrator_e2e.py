"""The whole path through a real `bdp server`: launch -> framework -> orchestrator -> ready,
then the inventory plugin, logs, actions, SSH with users' keys, and a kill -9."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from support.common import REPO, wait_status
from support.operations import action

ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")
FAST = {"BDP_POLL_INTERVAL": "0.5", "BDP_LEASE_SECONDS": "6", "BDP_READY_TIMEOUT": "60",
        "BDP_START_TIMEOUT": "60"}



def make_user(http, name: str, tmp_path: Path) -> tuple[str, Path]:
    """A user with a token and a registered SSH key; returns (token, private key path)."""
    assert http.post("/users", json={"name": name}).status_code in (200, 201)
    token = http.post(f"/users/{name}/tokens", json={"name": "test"}).json()["token"]
    key = tmp_path / f"{name}_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    r = http.put(f"/users/{name}/ssh_keys", json={"ssh_keys": [key.with_suffix(".pub").read_text().strip()]})
    assert r.status_code == 200, r.text
    return token, key


def ssh(key: Path, address: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "ConnectTimeout=5", f"root@{address}", command],
        capture_output=True, text=True, timeout=30)


def container(docker_client, server, dn: str, node: str):
    from api.engines.base import LABEL_DN, LABEL_NODE, LABEL_PLATFORM
    # By labels, this server's own: another test's platform may have a cluster with this DN.
    found = docker_client.containers.list(filters={"label": [
        f"{LABEL_PLATFORM}={server.data_dir}", f"{LABEL_DN}={dn}", f"{LABEL_NODE}={node}"]})
    assert len(found) == 1, f"{dn} {node}: {found}"
    return found[0]


def test_reference_launch_to_ready_inventory_logs_actions_and_ssh(server_factory, docker_client, tmp_path):
    server = server_factory(env=FAST).start()
    admin = server.http()
    alice_token, alice_key = make_user(admin, "alice", tmp_path)
    _bob_token, bob_key = make_user(admin, "bob", tmp_path)
    alice = server.http(alice_token)
    alice.timeout = 180  # actions answer when their playbook runs are over

    r = alice.post("/products/reference/1.0.0", json={"size": 3})
    assert r.status_code == 202, r.text
    path = r.json()["cluster"].split("/bigdata/api/v1", 1)[1]
    view = wait_status(alice, path, {"ready"}, timeout=240)
    dn = view["dn"]

    # The playbook wrote the marker and /etc/hosts on every node.
    for node in ("node1", "node2", "node3"):
        code, out = container(docker_client, server, dn, node).exec_run(["cat", "/etc/bdp-marker", "/etc/hosts"])
        assert code == 0
        assert out.decode().startswith("configured-by-bdp\n")
        assert all(f" node{i} node{i}." in out.decode() for i in (1, 2, 3))

    # The inventory plugin, from plain ansible-inventory with the repo's ansible.cfg.
    source = tmp_path / "cluster.bdp.yml"
    source.write_text(f"plugin: bdp\ncluster: {dn}\nurl: {server.url}\n")
    graph = subprocess.run([ANSIBLE_INVENTORY, "-i", str(source), "--graph"], cwd=REPO,
                           env={**os.environ, "BDP_TOKEN": alice_token},
                           capture_output=True, text=True, timeout=120)
    assert graph.returncode == 0, graph.stderr
    for group in ("@master:", "@workers:", "@marker:"):
        assert group in graph.stdout
    workers = graph.stdout.split("@workers:", 1)[1].split("@", 1)[0]
    assert "node2" in workers and "node3" in workers and "node1" not in workers

    # Logs: the start run and the readiness check, with output and tasks.
    runs = alice.get(path + "/logs").json()["runs"]
    assert [(r["action"], r["result"]) for r in runs] == [("start", "successful"), ("status", "successful")]
    assert "PLAY RECAP" in runs[0]["output"]
    assert any(e["host"] == "node1" and e["task"] == "Write the marker file" and e["status"] == "changed"
               for e in runs[0]["events"])

    # SSH: alice's own key opens her node; bob's key is refused there.
    nodes = alice.get(path + "/nodes").json()["nodes"]
    address = next(n for n in nodes[0]["networks"] if n["device"] == "eth0")["address"]
    mine = ssh(alice_key, address, "cat /etc/bdp-marker")
    assert mine.returncode == 0 and mine.stdout == "configured-by-bdp\n", mine.stderr
    theirs = ssh(bob_key, address, "true")
    assert theirs.returncode == 255 and "Permission denied" in theirs.stderr

    # Actions over HTTP (aliases that queue operations): stop, status says stopped, start
    # brings it back.
    assert action(alice, path, "stop")["status"] == "stopped"
    r = action(alice, path, "status")
    assert r["result"] == "failed" and r["status"] == "stopped"
    r = action(alice, path, "start")
    assert r["result"] == "successful" and r["status"] == "ready", r
    r = alice.post(path + "/actions/reboot")
    assert r.status_code == 404 and r.json()["field"] == "action"
    assert server.http(_bob_token).post(path + "/actions/status").status_code == 403


SLOW_PLAYBOOK = (REPO / "products/reference/1.0.0/playbook.yml").read_text() + """
- name: Take a while (the test kills the server meanwhile)
  hosts: all
  gather_facts: false
  tags: [start]
  tasks:
    - name: Pause
      ansible.builtin.pause:
        seconds: "{{ 0 if lookup('ansible.builtin.env', 'BDP_SECOND_RUN') else 12 }}"
"""


def test_kill9_during_configuring_then_restart_redoes_the_run(server_factory, tmp_path):
    data_dir = tmp_path / "data"
    server = server_factory(data_dir, env=FAST).start()
    admin = server.http()
    reference = REPO / "products/reference/1.0.0"
    r = admin.post("/products", json={"name": "slowref", "version": "1.0.0", "description": "slow",
                                      "template": (reference / "template.json.j2").read_text(),
                                      "options": json.loads((reference / "options.json").read_text())})
    assert r.status_code in (200, 201), r.text
    r = admin.put("/products/slowref/1.0.0/orchestrator", content=SLOW_PLAYBOOK.encode(),
                  headers={"Content-Type": "application/yaml"})
    assert r.status_code in (200, 204), r.text
    r = admin.post("/products/slowref/1.0.0", json={"size": 2})
    assert r.status_code == 202, r.text
    path = r.json()["cluster"].split("/bigdata/api/v1", 1)[1]

    wait_status(admin, path, {"configuring"}, timeout=240)
    time.sleep(3)  # inside the pause of the start run
    server.kill9()

    # The same data directory, a new process: the lease of the dead one runs out and the
    # run is redone (quickly this time) until ready.
    again = server_factory(data_dir, env={**FAST, "BDP_SECOND_RUN": "1"}).start()
    http = again.http()
    wait_status(http, path, {"ready"}, timeout=180)
    runs = http.get(path + "/logs").json()["runs"]
    assert [(r["action"], r["result"]) for r in runs][:2] == [("start", "interrupted"), ("start", "successful")]
    assert runs[-1]["action"] == "status" and runs[-1]["result"] == "successful"
    events = [e["message"] for e in http.get(path + "/events").json()["events"]]
    assert any("running the playbook (start) again" in m for m in events)
    # The killed server's ansible-playbook (in a session of its own, so it outlived the
    # kill) was stopped before the redo: nothing works in the runs directory any more.
    runs_dir = f"{data_dir}/runs/".encode()
    leftovers = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and runs_dir in (proc / "cmdline").read_bytes():
                leftovers.append(proc.name)
        except OSError:
            continue
    assert leftovers == []

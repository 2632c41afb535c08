"""The cluster inventory: the `bdp` plugin (through a real server and plain
ansible-inventory) gives exactly what the orchestrator builds from the registry."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.core import status as st
from api.core.models import Cluster
from api.orchestrator.inventory import facts_from_views, registry_inventory, shape_inventory
from support.common import ADMIN_TOKEN, REPO
from support.orchestrator import scheduled_cluster

ANSIBLE_INVENTORY = str(Path(sys.executable).parent / "ansible-inventory")


def plain(value):
    """ansible-core marks strings an inventory plugin read from outside as untrusted
    (never templated), shown as {"__ansible_unsafe": ...} in --list: compare the values."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def ansible_inventory(source: Path, *args: str, token: str | None = ADMIN_TOKEN):
    env = {k: v for k, v in os.environ.items() if k not in ("BDP_TOKEN", "BDP_URL")}
    if token:
        env["BDP_TOKEN"] = token
    return subprocess.run([ANSIBLE_INVENTORY, "-i", str(source), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def served_cluster(platform, server_factory, tmp_path):
    """A 3-node cluster in the registry (no containers needed) and a server reading it."""
    cluster = scheduled_cluster(platform, size=3, marker="inv-test", start=False)
    Cluster.update(status=st.READY).where(Cluster.id == cluster.id).execute()
    server = server_factory(platform.settings.data_dir).start()
    source = tmp_path / "cluster.bdp.yml"
    source.write_text(f"plugin: bdp\ncluster: {cluster.dn}\nurl: {server.url}\n")
    return cluster, server, source


def test_plugin_lists_services_as_groups_and_matches_the_registry(served_cluster):
    cluster, _server, source = served_cluster
    graph = ansible_inventory(source, "--graph")
    assert graph.returncode == 0, graph.stderr
    assert "@master:" in graph.stdout and "@workers:" in graph.stdout and "@marker:" in graph.stdout
    master = graph.stdout.split("@master:", 1)[1].split("@", 1)[0]
    assert "node1" in master and "node2" not in master

    listed = ansible_inventory(source, "--list")
    assert listed.returncode == 0, listed.stderr
    data = plain(json.loads(listed.stdout))
    expected = registry_inventory(cluster)["all"]
    for host, hostvars in expected["hosts"].items():
        # ansible-inventory shows each host with the vars of `all` merged in.
        assert data["_meta"]["hostvars"][host] == {**expected["vars"], **hostvars}
    for group, body in expected["children"].items():
        assert sorted(data[group]["hosts"]) == sorted(body["hosts"])

    node2 = data["_meta"]["hostvars"]["node2"]
    assert node2["ansible_host"] == node2["eth0"] and node2["eth1"] != node2["eth0"]
    assert node2["ansible_user"] == "root"
    assert node2["bdp_disks"] == {"disk1": "/data/1"}
    assert node2["bdp_tags"] == ["worker"] and node2["bdp_mem"] == 256
    assert node2["bdp_properties"] == {"marker": {"text": "inv-test"}, "workers": {}}
    assert node2["bdp_cluster_dn"] == cluster.dn
    assert node2["bdp_options"] == {"size": 3, "marker": "inv-test"}
    assert node2["bdp_dnsname"] == cluster.dnsname


def test_plugin_errors_name_the_cause(served_cluster, tmp_path):
    cluster, server, source = served_cluster
    missing = tmp_path / "missing.bdp.yml"
    missing.write_text(f"plugin: bdp\ncluster: {cluster.dn[:-1]}99\nurl: {server.url}\n")
    out = ansible_inventory(missing, "--graph")
    assert "answered 404" in out.stderr and "no cluster" in out.stderr

    out = ansible_inventory(source, "--graph", token="not-a-token")
    assert "answered 401" in out.stderr


def test_shaping_orders_devices_and_sanitises_group_names():
    cluster = {"id": 7, "dn": "clusters/a/p/1/7", "dnsname": "p-7.a.bdp", "options": {"x": 1}}
    nodes = [{"name": "n1", "cpu": 1, "mem": 512, "tags": [],
              "interfaces": [{"device": "eth10", "address": "10.0.2.1"},
                             {"device": "eth2", "address": "10.0.1.1"}],
              "disks": [{"name": "d", "destination": "/data/1"}]}]
    services = [{"name": "name-node", "nodes": ["n1"], "properties": {"heap": 1024}}]
    shaped = shape_inventory(*facts_from_views(cluster, nodes, services))
    host = shaped["all"]["hosts"]["n1"]
    assert list(host["bdp_interfaces"]) == ["eth2", "eth10"]
    assert host["ansible_host"] == "10.0.1.1"  # no eth0: the first device
    assert shaped["all"]["children"] == {"name_node": {"hosts": {"n1": None}}}
    assert shaped["all"]["vars"]["bdp_services"] == {"name-node": {"nodes": ["n1"], "heap": 1024}}

"""Registering real Docker hosts (the session's namespace hosts): cpus and memory from
each host's own `docker info`, disk directories made on the host through its engine,
and the `bdp hosts` commands against a real server."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support.common import ADMIN_TOKEN, REPO
from support.rest import P
from support.testhosts import TestHosts

HOSTS = f"{P}/hosts"


def test_a_host_registers_with_its_engines_resources_and_disks_made_there(client, testhosts, tmp_path):
    h1 = testhosts.hosts[0]
    paths = [str(tmp_path / "h1" / "d1"), str(tmp_path / "h1" / "d2")]
    r = client.simulate_post(HOSTS, json={"name": "node-a", "url": h1.url, "disks": paths,
                                          "labels": {"rack": "r1"}})
    assert r.status_code == 201, f"{r.text}\n{testhosts.diagnose()}"
    assert r.headers["location"].endswith("/hosts/node-a")
    info = h1.client().info()
    view = r.json
    assert view["total"] == {"cpus": info["NCPU"] * 4.0, "mem": info["MemTotal"] // 2**20, "disks": 2}
    assert view["attributes"]["daemon"] == h1.name and view["address"] == h1.address
    assert view["state"] == "active" and view["labels"] == {"rack": "r1"}
    assert "trusted network only" in view["warning"]
    # The disks were made on the host, by a helper container that is gone again.
    assert all((tmp_path / "h1" / d).is_dir() for d in ("d1", "d2"))
    assert h1.client().containers.list(all=True, filters={"label": "org.bdp.helper"}) == []
    disks = client.simulate_get(f"{HOSTS}/node-a/disks").json
    assert [(d["name"], d["path"], d["status"]) for d in disks] == [
        ("d1", paths[0], "free"), ("d2", paths[1], "free")]
    # The admin's overrides win over the engine's figures.
    r = client.simulate_post(HOSTS, json={"name": "node-b", "url": testhosts.hosts[1].url,
                                          "cpus": 3, "mem": 2048})
    assert r.status_code == 201 and r.json["total"] == {"cpus": 3, "mem": 2048, "disks": 0}
    # One name, one endpoint.
    again = client.simulate_post(HOSTS, json={"name": "node-a", "url": testhosts.hosts[2].url})
    assert again.status_code == 409 and again.json["field"] == "name"
    same = client.simulate_post(HOSTS, json={"name": "node-c", "url": h1.url})
    assert same.status_code == 409 and "host node-a already has url" in same.json["message"]


def bdp(server, *args) -> subprocess.CompletedProcess:
    env = {"BDP_URL": server.url, "BDP_TOKEN": ADMIN_TOKEN, "PATH": "/usr/bin:/bin",
           "BDP_CONFIG": str(server.data_dir / "client.json"), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300, cwd=REPO)


def test_bdp_hosts_commands_add_list_drain_activate_and_remove(server_factory, testhosts, tmp_path):
    server = server_factory().start()
    h3 = testhosts.hosts[2]
    disk = str(tmp_path / "h3" / "d1")
    added = bdp(server, "hosts", "add", "node-c", h3.url, "--disk", disk, "--label", "rack=r3")
    assert added.returncode == 0, f"{added.stderr}\n{testhosts.diagnose()}"
    assert "host node-c:" in added.stdout and "WARNING: plain tcp" in added.stdout
    listed = bdp(server, "hosts", "list")
    assert listed.returncode == 0 and "node-c" in listed.stdout and h3.url in listed.stdout
    assert bdp(server, "hosts", "drain", "node-c").stdout.strip() == "host node-c: drain"
    shown = json.loads(bdp(server, "hosts", "show", "node-c", "--json").stdout)
    assert shown["state"] == "drain" and shown["disk_paths"] == [disk]
    assert bdp(server, "hosts", "activate", "node-c").stdout.strip() == "host node-c: active"
    bad = bdp(server, "hosts", "add", "node-d", "http://nowhere")
    assert bad.returncode == 1 and "url" in bad.stderr and "not a Docker endpoint" in bad.stderr
    assert bdp(server, "hosts", "remove", "node-c").returncode == 0
    gone = bdp(server, "hosts", "show", "node-c")
    assert gone.returncode == 1 and "no host node-c" in gone.stderr


@pytest.mark.docker
def test_a_host_is_reached_with_tls_client_certificates(client):
    """A daemon that verifies clients (tcp://ADDR:2376 with --tlsverify): refused without
    the admin's certificates, registered with them, and no plain-tcp warning."""
    state = Path(tempfile.mkdtemp(prefix="bdptls-", dir="/var/tmp"))
    hosts = TestHosts("bdptls", state, tls=True)
    try:
        (host,) = hosts.up(1)
        assert host.url.endswith(":2376")
        bare = client.simulate_post(HOSTS, json={"name": "secure", "url": host.url})
        assert bare.status_code == 400 and bare.json["field"] == "url", bare.text
        tls = {k: str(hosts.tls_dir / f) for k, f in (("ca", "ca.pem"), ("cert", "cert.pem"),
                                                      ("key", "key.pem"))}
        wrong = client.simulate_post(HOSTS, json={"name": "secure", "url": host.url,
                                                  "tls": {**tls, "ca": tls["cert"]}})
        assert wrong.status_code == 400 and "does not answer" in wrong.json["message"], wrong.text
        r = client.simulate_post(HOSTS, json={"name": "secure", "url": host.url, "tls": tls})
        assert r.status_code == 201, r.text
        assert r.json["tls"] is True and "warning" not in r.json
        assert r.json["attributes"]["daemon"] == host.name
        from api.core.models import Host
        assert Host.get(Host.name == "secure").tls == tls  # paths, never the keys themselves
    finally:
        hosts.down()

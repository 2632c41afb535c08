"""The seed's curl calls against a real `bdp server`, `bdp products load`, clean
shutdown, and the registry on a real PostgreSQL."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

from support.common import REPO, free_port
from support.rest import OPTIONS, TEMPLATE, P

# The seed's options document (its README's trailing commas removed).
SEED_OPTIONS = {
    "required": {"slaves.number": 4},
    "optional": {"slaves.cpu": 2, "slaves.mem": 2048, "slaves.disks": 11},
    "advanced": {"datanode.heap": 1024},
    "descriptions": {"slaves.number": "Number of slave nodes", "slaves.cpu": "Number of cores per slave node",
                     "slaves.mem": "Memory per slave node (MB)", "slaves.disks": "Number of disks per slave node",
                     "datanode.heap": "Max heap memory for the datanode service"}}

# A seed-style minimal.json: a master and `slaves.number` slaves, keys with dots.
MINIMAL = """{
  "dnsname": "{{ product }}-{{ clusterid }}.{{ user }}",
  "nodes": {
    "master": {"docker_image": "bdp/base:bookworm", "cpu": 1, "mem": 1024, "tags": ["master"],
               "networks": {"eth0": {"networkname": "admin"}}},
    {%- for i in range(1, opts['slaves.number'] + 1) %}
    "slave{{ i }}": {
      "docker_image": "bdp/base:bookworm", "cpu": {{ opts['slaves.cpu'] }}, "mem": {{ opts['slaves.mem'] }},
      "disks": { {%- for d in range(1, opts['slaves.disks'] + 1) %}
        "disk{{ d }}": {"destination": "/data/{{ d }}"}{{ "," if not loop.last }}{% endfor %} },
      "networks": {"eth0": {"networkname": "admin"}, "eth1": {"networkname": "storage"}}
    }{{ "," if not loop.last }}
    {%- endfor %}
  },
  "services": {
    "namenode": {"nodes": ["master"]},
    "datanode": {"nodes": [{% for i in range(1, opts['slaves.number'] + 1) %}"slave{{ i }}"{{ "," if not loop.last }}{% endfor %}],
                 "heap": {{ opts['datanode.heap'] }}}
  }
}
"""

# The seed's orchestrator script, with the four tags the platform runs (PUT refuses it otherwise).
PLAYBOOK = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n      tags: [start, stop, restart, status]\n"


def dummy_engine() -> list[str]:
    # The in-process framework must not start containers here: a Mesos master that
    # does not answer keeps every cluster at `registered`, which is what we check.
    return ["--engine", "mesos", "--mesos-master", f"http://127.0.0.1:{free_port()}"]


def curl(*args: str) -> tuple[int, dict, str]:
    out = subprocess.run(["curl", "-sS", "-i", *args], capture_output=True, text=True, timeout=30, check=True).stdout
    head, _, body = out.partition("\n\n")  # text mode: \r\n read as \n
    lines = head.split("\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_seed_calls_with_curl_against_a_real_server(server_factory, tmp_path, monkeypatch):
    server = server_factory(env={"BDP_ADMIN_TOKEN": ""}, extra_args=dummy_engine()).start()
    # First start without BDP_ADMIN_TOKEN: a token was generated, printed once, saved 0600.
    token = (server.data_dir / "admin.token").read_text().strip()
    assert oct((server.data_dir / "admin.token").stat().st_mode & 0o777) == "0o600"
    assert server.log().count(token) == 1
    url, auth = server.url + P, f"x-auth-token: {token}"
    (tmp_path / "minimal.json").write_text(MINIMAL)
    (tmp_path / "options.json").write_text(json.dumps(SEED_OPTIONS))
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    monkeypatch.chdir(tmp_path)  # the seed's @file arguments are relative

    status, headers, body = curl("-X", "POST", "-d", '{"name":"gluster", "version":"3.7.11", "description": '
                                 '"GlusterFS parallel filesystem cluster"}', "-H", "Content-type: application/json",
                                 "-H", auth, f"{url}/products")
    assert status == 201 and headers["location"].endswith("/products/gluster/3.7.11")
    status, _, body = curl("-X", "PUT", "--data-binary", "@minimal.json", "-H", "Content-type: application/json",
                           "-H", auth, f"{url}/products/gluster/3.7.11/template")
    assert status == 200, body
    status, _, body = curl("-X", "PUT", "--data-binary", "@options.json", "-H", "Content-type: application/json",
                           "-H", auth, f"{url}/products/gluster/3.7.11/options")
    assert status == 200, body
    status, _, body = curl("-X", "PUT", "--data-binary", "@playbook.yml", "-H", "Content-type: application/json",
                           "-H", auth, f"{url}/products/gluster/3.7.11/orquestrator")
    assert status == 200 and json.loads(body)["orchestrator_format"] == "yaml"
    status, _, body = curl("-H", auth, f"{url}/products/gluster/3.7.11/orchestrator")
    assert body == PLAYBOOK

    status, headers, body = curl("-H", "Content-type: application/json", "-X", "POST", "-d", '{"slaves.number": "2"}',
                                 "-H", auth, f"{url}/products/gluster/3.7.11")
    assert status == 202, body
    launched = json.loads(body)
    assert headers["location"] == launched["cluster"] == "/bigdata/api/v1/clusters/admin/gluster/3.7.11/1"
    status, _, body = curl("-H", auth, server.url + launched["cluster"])
    cluster = json.loads(body)
    assert status == 200 and cluster["nodes"] == ["master", "slave1", "slave2"]
    assert cluster["services"] == ["namenode", "datanode"] and cluster["options"]["slaves.number"] == 2
    _, _, body = curl("-H", auth, server.url + launched["cluster"] + "/nodes")
    slave = json.loads(body)["nodes"][1]
    assert len(slave["disks"]) == 11 and [n["device"] for n in slave["networks"]] == ["eth0", "eth1"]
    _, _, body = curl("-H", auth, server.url + launched["queue"])
    assert json.loads(body)["cluster"] == launched["cluster"]

    # The bundled reference product was loaded at start; the seed's `{"size": 2}` launches it.
    status, headers, body = curl("-H", "Content-type: application/json", "-X", "POST", "-d", '{"size": 2}',
                                 "-H", auth, f"{url}/products/reference/1.0.0")
    assert status == 202 and headers["location"].endswith("/clusters/admin/reference/1.0.0/1")
    status, _, body = curl("-H", auth, f"{url}/clusters")
    assert [c["dn"] for c in json.loads(body)["clusters"]] == [
        "clusters/admin/gluster/3.7.11/1", "clusters/admin/reference/1.0.0/1"]
    status, _, body = curl(f"{url}/clusters")
    assert status == 401 and json.loads(body)["status"] == 401

    # `bdp products load DIR` goes through the running API: creates new, updates existing.
    bundles = tmp_path / "bundles"
    ref = bundles / "reference" / "1.0.0"
    ref.mkdir(parents=True)
    for name in ("product.yml", "options.json", "template.json.j2"):
        shutil.copy(REPO / "products/reference/1.0.0" / name, ref / name)
    mini = bundles / "mini" / "1"
    (mini / "roles" / "mini" / "tasks").mkdir(parents=True)
    (mini / "product.yml").write_text("name: mini\nversion: '1'\ndescription: Mini\n")
    (mini / "options.json").write_text(json.dumps(OPTIONS))
    (mini / "template.json.j2").write_text(TEMPLATE)
    (mini / "playbook.yml").write_text(PLAYBOOK)
    (mini / "roles" / "mini" / "tasks" / "main.yml").write_text("- ping:\n")
    r = subprocess.run([sys.executable, "-m", "api.cli", "products", "load", str(bundles)], cwd=REPO,
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "BDP_URL": server.url, "BDP_DATA_DIR": str(server.data_dir),
                            "BDP_TOKEN": "", "BDP_ADMIN_TOKEN": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["mini 1: created", "reference 1.0.0: updated"]
    with server.http(token) as http:
        assert http.get("/products/mini/1").json()["orchestrator_format"] == "tar.gz"
        assert {"gluster", "mini", "reference"} <= set(http.get("/products").json()["products"])
        assert http.get("/products/gluster").json()["versions"][-1] == "3.7.11"

    server.stop()  # SIGTERM
    assert server.proc.returncode == 0 and "shutting down" in server.log()


def test_postgres_server_registration_and_listing(server_factory, postgres_url):
    server = server_factory(env={"BDP_DATABASE_URL": postgres_url},
                            extra_args=[*dummy_engine(), "--no-auth"]).start()
    assert "AUTHENTICATION IS OFF" in server.log()
    with server.http(token="") as http:
        assert http.post("/products", json={"name": "pgdemo", "version": "1"}).status_code == 201
        assert http.put("/products/pgdemo/1/options", json=OPTIONS).status_code == 200
        r = http.put("/products/pgdemo/1/template", content=TEMPLATE, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        r = http.post("/products/pgdemo/1", json={"size": 3})
        assert r.status_code == 202, r.text
        uri = r.headers["location"]
        assert http.post("/products/pgdemo/1", json={"size": 1}).json()["id"] == 2
        listed = http.get("/clusters/admin/pgdemo/1").json()["clusters"]
        assert [c["id"] for c in listed] == [1, 2]
        nodes = http.get(server.url + uri + "/nodes").json()["nodes"]
        assert [n["name"] for n in nodes] == ["node1", "node2", "node3"]
        assert nodes[0]["networks"][0]["networkname"] == "admin" and nodes[0]["disks"][0]["destination"] == "/data/1"
    server.stop()
    assert server.proc.returncode == 0


def test_postgres_concurrent_launches_get_distinct_ids(postgres_url, tmp_path):
    from falcon import testing

    from api.core.config import Settings
    from api.http.app import create_app
    from api.platform import Platform
    from support.common import ADMIN_TOKEN
    from support.rest import add_product, ensure_networks
    platform = Platform(Settings(data_dir=tmp_path / "data", database_url=postgres_url, admin_token=ADMIN_TOKEN))
    try:
        client = testing.TestClient(create_app(platform), headers={"x-auth-token": ADMIN_TOKEN})
        ensure_networks()
        add_product(client, "race", "1")
        results, errors = [], []

        def go():
            r = client.simulate_post(f"{P}/products/race/1", json={"size": 2})
            (results if r.status_code == 202 else errors).append(r.json)
        threads = [threading.Thread(target=go) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(r["id"] for r in results) == list(range(1, 13))
        listed = client.simulate_get(f"{P}/clusters/admin/race/1").json["clusters"]
        assert sorted(c["id"] for c in listed) == list(range(1, 13))
    finally:
        platform.database.close()

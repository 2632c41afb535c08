"""What a launch stores is what its document says, byte for byte, on SQLite and on
PostgreSQL (where a registration's rows go in by COPY, whose text format has escapes of
its own), and a value no database text can hold is refused naming its option."""
from __future__ import annotations

import json

import pytest

from support.common import ADMIN_TOKEN
from support.rest import P, add_product, ensure_networks, error

# Every value goes through `| tojson`, so the template keeps it exactly; these are the
# characters COPY's text format gives a meaning to, and their look-alikes.
AWKWARD = ["tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", "\\", "\\t",
           "end\\", "quote\"s'", "é\u2028\ue000", ""]

TEMPLATE = """{
  "nodes": {
    {%- for i in range(1, opts.size + 1) %}
    "node{{ i }}": {
      "docker_image": "bdp/base:bookworm",
      "tags": {{ opts.tags | tojson }},
      "disks": {"disk1": {"destination": {{ ("/data/" ~ opts.label) | tojson }}}},
      "networks": {"eth0": {"networkname": "admin"}, "eth1": {"networkname": "storage"}}
    }{{ "," if not loop.last }}
    {%- endfor %}
  },
  "services": {"s": {"nodes": ["node1"], "text": {{ opts.label | tojson }},
                     "tags": {{ opts.tags | tojson }}}}
}"""
OPTIONS = {"required": {"size": 2}, "optional": {"tags": ["worker"], "label": "one"},
           "advanced": {}, "descriptions": {}}


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path):
    from api.core.config import Settings
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, database_url=url, max_nodes=1000)


@pytest.fixture
def product(client):
    ensure_networks()
    add_product(client, "stored", "1.0", TEMPLATE, OPTIONS)
    return f"{P}/products/stored/1.0"


def _rows():
    from api.core.models import Interface, Node, NodeDisk, Service
    nodes = {n.name: n for n in Node.select()}
    disks = {(d.node.name, d.name): d.destination for d in NodeDisk.select(NodeDisk, Node).join(Node)}
    ifaces = sorted((i.node.name, i.device) for i in Interface.select(Interface, Node).join(Node))
    services = {s.name: s.properties for s in Service.select()}
    return nodes, disks, ifaces, services


def test_every_awkward_string_is_stored_exactly(client, product):
    r = client.simulate_post(product, json={"size": 3, "tags": AWKWARD, "label": "".join(AWKWARD)})
    assert r.status_code == 202, r.text
    nodes, disks, ifaces, services = _rows()
    assert sorted(nodes) == ["node1", "node2", "node3"]
    assert all(n.tags == AWKWARD and n.status == "queued" for n in nodes.values())
    assert disks == {(f"node{i}", "disk1"): "/data/" + "".join(AWKWARD) for i in (1, 2, 3)}
    assert ifaces == [(f"node{i}", dev) for i in (1, 2, 3) for dev in ("eth0", "eth1")]
    assert services["s"]["text"] == "".join(AWKWARD) and services["s"]["tags"] == AWKWARD
    # And the API shows them as sent.
    view = client.simulate_get(r.json["cluster"] + "/services")
    assert view.status_code == 200
    assert view.json["services"][0]["properties"] == {"text": "".join(AWKWARD), "tags": AWKWARD}


def test_a_large_registration_stores_every_row(client, product):
    r = client.simulate_post(product, json={"size": 600})  # more than one INSERT's worth on SQLite
    assert r.status_code == 202, r.text
    nodes, disks, ifaces, _ = _rows()
    assert len(nodes) == 600 and len(disks) == 600 and len(ifaces) == 1200
    assert client.simulate_get(r.json["cluster"]).json["nodes"][-1] == "node600"


@pytest.mark.parametrize("given, field", [
    ({"label": "a\x00b"}, "label"),
    ({"tags": ["ok", "nul\x00"]}, "tags"),
    ({"tags": [{"k\x00": 1}]}, "tags"),
])
def test_a_nul_character_is_refused_naming_the_option(client, product, given, field):
    r = client.simulate_post(product, json={"size": 2, **given})
    assert r.status_code == 400
    body = error(r)
    assert body["field"] == field and "NUL" in body["message"]
    from api.core.models import Cluster, Node
    assert Cluster.select().count() == 0 and Node.select().count() == 0


def test_a_nul_sent_as_raw_json_escape_is_refused_too(client, product):
    r = client.simulate_post(product, body=b'{"size": 2, "label": "x\\u0000y"}',
                             headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and error(r)["field"] == "label"
    assert json.loads(r.text)["status"] == 400

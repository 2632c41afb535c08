"""Helpers shared by the tests/test_api_*.py modules (products, users, templates)."""
from __future__ import annotations

import json

P = "/bigdata/api/v1"

# The seed's minimal template shape: `size` nodes on the admin network, one disk each.
TEMPLATE = """{
  "dnsname": "{{ product }}-{{ clusterid }}.{{ user }}.bdp",
  "nodes": {
    {%- for i in range(1, opts.size + 1) %}
    "node{{ i }}": {
      "docker_image": "bdp/base:bookworm",
      "cpu": {{ opts.cpu }},
      "mem": {{ opts.mem }},
      "check_ports": [22],
      "tags": ["{{ 'master' if i == 1 else 'worker' }}"],
      "disks": {"disk1": {"destination": "/data/1", "mode": "rw", "type": "sata"}},
      "networks": {"eth0": {"type": "dynamic", "networkname": "admin"}}
    }{{ "," if not loop.last }}
    {%- endfor %}
  },
  "services": {
    "all": {"nodes": [{% for i in range(1, opts.size + 1) %}"node{{ i }}"{{ "," if not loop.last }}{% endfor %}],
            "heap": {{ opts.heap }}}
  }
}
"""

YAML_TEMPLATE = """dnsname: "{{ product }}.{{ user }}"
nodes:
{% for i in range(1, opts.size + 1) %}
  n{{ i }}:
    docker_image: bdp/base:bookworm
    cpu: {{ opts.cpu }}
    networks:
      eth0: {networkname: admin}
{% endfor %}
services:
  all:
    nodes: [{% for i in range(1, opts.size + 1) %}n{{ i }}{{ ", " if not loop.last }}{% endfor %}]
"""

OPTIONS = {"required": {"size": 2}, "optional": {"cpu": 0.5, "mem": 256}, "advanced": {"heap": 512},
           "descriptions": {"size": "Number of nodes", "cpu": "Cores per node", "mem": "MB per node",
                            "heap": "Service heap (MB)"}}


def ensure_networks(*names: str) -> None:
    from api.core.models import Network
    for i, name in enumerate(names or ("admin", "storage")):
        if not Network.select().where(Network.name == name).exists():
            Network.create(name=name, subnet=f"10.7{i}.0.0/24", gateway=f"10.7{i}.0.1",
                           range_start=f"10.7{i}.0.2", range_end=f"10.7{i}.0.254")


def add_product(client, name="demo", version="1.0", template=TEMPLATE, options=OPTIONS,
                ctype="application/json"):
    r = client.simulate_post(f"{P}/products", json={"name": name, "version": version,
                                                    "description": f"{name} for tests"})
    assert r.status_code == 201, r.text
    if options is not None:
        r = client.simulate_put(f"{P}/products/{name}/{version}/options", json=options)
        assert r.status_code == 200, r.text
    if template is not None:
        r = put_template(client, name, version, template, ctype)
        assert r.status_code == 200, r.text
    return r


def put_template(client, name, version, text, ctype="application/json"):
    return client.simulate_put(f"{P}/products/{name}/{version}/template", body=text.encode(),
                               headers={"Content-Type": ctype})


def add_user(client, name: str, role: str = "user", expires_days=None) -> str:
    """Create a user through the API and return a fresh token of theirs."""
    r = client.simulate_post(f"{P}/users", json={"name": name, "role": role})
    assert r.status_code == 201, r.text
    body = {"name": "test"} | ({"expires_days": expires_days} if expires_days else {})
    r = client.simulate_post(f"{P}/users/{name}/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.json["token"]


def as_user(token: str) -> dict:
    return {"x-auth-token": token}


def error(r) -> dict:
    """The JSON error body, checked for the contract's shape."""
    body = json.loads(r.text)
    assert body["status"] == r.status_code and body["error"] and body["message"], body
    return body

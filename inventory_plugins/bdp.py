"""Ansible inventory plugin `bdp`: a Big Data PaaS cluster read through the REST API."""
from __future__ import annotations

DOCUMENTATION = r"""
name: bdp
short_description: Big Data PaaS cluster nodes and services
description:
  - Reads one cluster of the Big Data PaaS through its REST API
    (C(GET /bigdata/api/v1/<dn>), C(<dn>/nodes), C(<dn>/services)).
  - One group per service, one host per node. Host vars - each interface's address by
    device (C(eth0), C(eth1), ...), C(ansible_host) (the eth0 address), C(ansible_user)
    root, C(bdp_disks) (name to destination), C(bdp_cpu), C(bdp_mem), C(bdp_tags),
    C(bdp_properties) (service name to the service's properties).
  - Vars of all hosts - C(bdp_options), C(bdp_dnsname), C(bdp_cluster_dn), C(bdp_services).
  - The source file's name must end in C(bdp.yml) or C(bdp.yaml).
options:
  plugin:
    description: Marks the file as a source of this plugin.
    required: true
    choices: ['bdp']
  cluster:
    description: The cluster's DN, e.g. C(clusters/alice/reference/1.0.0/3).
    required: true
    type: str
  url:
    description: The platform's base URL.
    type: str
    env:
      - name: BDP_URL
    default: http://127.0.0.1:5000
  token:
    description: An API token of the cluster's owner or an administrator.
    type: str
    env:
      - name: BDP_TOKEN
  ssh_private_key_file:
    description: Key to reach the nodes with (default - ssh's own keys or agent).
    type: path
  timeout:
    description: Seconds to wait for each API call.
    type: int
    default: 30
"""

EXAMPLES = r"""
# cluster.bdp.yml
plugin: bdp
cluster: clusters/alice/reference/1.0.0/3
url: http://127.0.0.1:5000
"""

import json
import os
import sys
import urllib.error
import urllib.request

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin

try:
    from api.orchestrator.inventory import facts_from_views, shape_inventory
except ImportError:
    # Run from a checkout: the shaping code lives in the repo's api package, one level up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from api.orchestrator.inventory import facts_from_views, shape_inventory

API_PREFIX = "/bigdata/api/v1"


class InventoryModule(BaseInventoryPlugin):
    NAME = "bdp"

    def verify_file(self, path):
        return super().verify_file(path) and path.endswith(("bdp.yml", "bdp.yaml"))

    def _get(self, base, path, token, timeout):
        request = urllib.request.Request(f"{base.rstrip('/')}{API_PREFIX}/{path.strip('/')}",
                                         headers={"Accept": "application/json"})
        if token:
            request.add_header("x-auth-token", token)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise AnsibleParserError(f"bdp: GET {path} answered {exc.code}: {detail}")
        except (urllib.error.URLError, OSError) as exc:
            raise AnsibleParserError(f"bdp: cannot reach {base}: {exc}")

    @staticmethod
    def _items(answer, key):
        # A list may come bare or wrapped ({"nodes": [...]}) depending on the resource.
        if isinstance(answer, dict):
            answer = answer.get(key, answer.get("items", []))
        return answer

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        dn = self.get_option("cluster").strip("/")
        if not dn.startswith("clusters/"):
            raise AnsibleParserError(f"bdp: cluster must be a DN like clusters/<user>/<product>/<version>/<id>, got {dn!r}")
        base, token, timeout = self.get_option("url"), self.get_option("token"), self.get_option("timeout")

        cluster = self._get(base, dn, token, timeout)
        nodes = self._items(self._get(base, f"{dn}/nodes", token, timeout), "nodes")
        services = self._items(self._get(base, f"{dn}/services", token, timeout), "services")
        facts = facts_from_views(cluster, nodes, services)
        if not facts[0]["dn"]:
            facts[0]["dn"] = dn
        extra = {}
        if self.get_option("ssh_private_key_file"):
            extra["ansible_ssh_private_key_file"] = self.get_option("ssh_private_key_file")
        self.populate(shape_inventory(*facts, extra_vars=extra))

    def populate(self, shaped):
        data = shaped["all"]
        for key, value in data["vars"].items():
            self.inventory.set_variable("all", key, value)
        for host, hostvars in data["hosts"].items():
            self.inventory.add_host(host)
            for key, value in hostvars.items():
                self.inventory.set_variable(host, key, value)
        for group, body in data["children"].items():
            self.inventory.add_group(group)
            for host in body["hosts"]:
                self.inventory.add_child(group, host)

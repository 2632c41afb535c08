"""A cluster as an Ansible inventory: one group per service, one host per node.

Two callers build the same inventory from different sources:
- the orchestrator, straight from the registry (`registry_facts` + `shape_inventory`);
- the `bdp` inventory plugin (inventory_plugins/bdp.py), from the REST API
  (`facts_from_views` + `shape_inventory`).

Both go through `shape_inventory`, so a playbook sees the same variables whether the
platform runs it or a person runs it by hand. This module imports no registry model
at module level: the plugin loads it inside ansible, where peewee need not exist.

Facts (the common intermediate form):
    cluster:  {"id", "dn", "dnsname", "options"}
    nodes:    [{"name", "cpu", "mem", "tags", "interfaces": {device: address},
                "disks": {name: destination}}]
    services: [{"name", "nodes": [node names], "properties": {...}}]
"""
from __future__ import annotations

import re
from typing import Any

# Ansible warns about group names that are not identifiers (e.g. "name-node").
_INVALID_GROUP_CHARS = re.compile(r"[^A-Za-z0-9_]")


def group_name(service: str) -> str:
    name = _INVALID_GROUP_CHARS.sub("_", service)
    return name if not name[:1].isdigit() else "_" + name


def _device_key(device: str):
    # eth2 before eth10: order interfaces by their number, as the template does.
    match = re.match(r"(\D*)(\d*)$", device)
    return (match.group(1), int(match.group(2) or 0)) if match else (device, 0)


def shape_inventory(cluster: dict, nodes: list[dict], services: list[dict],
                    extra_vars: dict | None = None) -> dict:
    """The YAML-inventory dict (`{"all": {"vars", "hosts", "children"}}`) of a cluster."""
    services_by_node: dict[str, dict[str, dict]] = {}
    for service in services:
        for node in service.get("nodes") or []:
            services_by_node.setdefault(node, {})[service["name"]] = dict(service.get("properties") or {})

    hosts: dict[str, dict[str, Any]] = {}
    for node in sorted(nodes, key=lambda n: n["name"]):
        interfaces = node.get("interfaces") or {}
        devices = sorted(interfaces, key=_device_key)
        hostvars: dict[str, Any] = {device: interfaces[device] for device in devices}
        # The orchestrator reaches nodes on their first interface (eth0, the admin network).
        reach = interfaces.get("eth0") or (interfaces[devices[0]] if devices else None)
        if reach:
            hostvars["ansible_host"] = reach
        hostvars.update({
            "ansible_user": "root",
            "bdp_node": node["name"],
            "bdp_interfaces": {device: interfaces[device] for device in devices},
            "bdp_disks": dict(node.get("disks") or {}),
            "bdp_cpu": node.get("cpu"),
            "bdp_mem": node.get("mem"),
            "bdp_tags": list(node.get("tags") or []),
            "bdp_properties": services_by_node.get(node["name"], {}),
        })
        hosts[node["name"]] = hostvars

    children: dict[str, dict] = {}
    for service in sorted(services, key=lambda s: s["name"]):
        members = [n for n in service.get("nodes") or [] if n in hosts]
        children[group_name(service["name"])] = {"hosts": {n: None for n in members}}

    all_vars = {
        "bdp_cluster_dn": cluster["dn"],
        "bdp_cluster_id": cluster.get("id"),
        "bdp_dnsname": cluster.get("dnsname") or "",
        "bdp_options": dict(cluster.get("options") or {}),
        "bdp_services": {s["name"]: {"nodes": list(s.get("nodes") or []),
                                     **dict(s.get("properties") or {})} for s in services},
        **(extra_vars or {}),
    }
    return {"all": {"vars": all_vars, "hosts": hosts, "children": children}}


# --- from the REST API's views (used by the inventory plugin) -------------------------

def _address(value) -> str | None:
    if isinstance(value, dict):
        return value.get("address") or value.get("ip")
    return value


def _named(items, key: str) -> dict:
    """{name: value} from either a dict or a list of {"name"/"device": ..., ...} dicts."""
    if isinstance(items, dict):
        return items
    out = {}
    for item in items or []:
        out[item.get(key) or item.get("name")] = item
    return out


def facts_from_views(cluster_view: dict, node_views: list[dict], service_views: list[dict]) -> tuple:
    """Facts from the API's cluster, node and service views.

    The views list interfaces and disks either as dicts keyed by device/name or as
    lists of objects; both are accepted.
    """
    cluster = {
        "id": cluster_view.get("id"),
        "dn": cluster_view.get("dn") or cluster_view.get("clusterdn"),
        "dnsname": cluster_view.get("dnsname", ""),
        "options": cluster_view.get("options") or {},
    }
    nodes = []
    for view in node_views:
        raw_ifaces = view.get("interfaces", view.get("networks")) or {}
        interfaces = {dev: _address(v) for dev, v in _named(raw_ifaces, "device").items()}
        disks = {}
        for name, disk in _named(view.get("disks") or {}, "name").items():
            disks[name] = disk.get("destination") if isinstance(disk, dict) else disk
        nodes.append({"name": view["name"], "cpu": view.get("cpu"), "mem": view.get("mem"),
                      "tags": view.get("tags") or [],
                      "interfaces": {d: a for d, a in interfaces.items() if a},
                      "disks": disks})
    services = []
    for view in service_views:
        if "properties" in view:
            properties = view.get("properties") or {}
        else:
            properties = {k: v for k, v in view.items() if k not in ("name", "nodes", "id", "cluster")}
        services.append({"name": view["name"], "nodes": list(view.get("nodes") or []),
                         "properties": properties})
    return cluster, nodes, services


# --- from the registry (used by the orchestrator) ----------------------------------------

def registry_facts(cluster) -> tuple:
    """Facts of a registry `Cluster` (imports the models lazily, see the module doc)."""
    from api.core.models import Interface, Node, NodeDisk, Service
    from api.core.status import NodeStatus

    nodes = []
    # A node the framework is removing is no longer part of the cluster.
    for node in Node.select().where((Node.cluster == cluster) & (Node.status != NodeStatus.REMOVING)).order_by(Node.name):
        interfaces = {i.device: i.address for i in
                      Interface.select().where(Interface.node == node) if i.address}
        disks = {d.name: d.destination for d in NodeDisk.select().where(NodeDisk.node == node)}
        nodes.append({"name": node.name, "cpu": node.cpu, "mem": node.mem, "tags": node.tags or [],
                      "interfaces": interfaces, "disks": disks})
    services = [{"name": s.name, "nodes": s.nodes or [], "properties": s.properties or {}}
                for s in Service.select().where(Service.cluster == cluster).order_by(Service.name)]
    # "id" is the seed's cluster id (the DN's last part), as the API's cluster view says.
    facts = {"id": cluster.seq, "dn": cluster.dn, "dnsname": cluster.dnsname,
             "options": cluster.options or {}}
    return facts, nodes, services


def registry_inventory(cluster, extra_vars: dict | None = None) -> dict:
    return shape_inventory(*registry_facts(cluster), extra_vars=extra_vars)

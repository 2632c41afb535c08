"""Views: the API's shape of a cluster, its job, nodes (host, disks, interfaces) and services."""
from __future__ import annotations

from collections import defaultdict

from peewee import JOIN

from api.core import status
from api.core.config import API_PREFIX
from api.core.models import Cluster, Disk, Host, Interface, Job, Network, Node, NodeDisk, Service


def uri(cluster: Cluster) -> str:
    return f"{API_PREFIX}/{cluster.dn}"


def job_uri(job_id: int) -> str:
    return f"{API_PREFIX}/queue/{job_id}"


def _ts(value) -> str:
    return value.isoformat() if value else ""


def cluster_view(c: Cluster, nodes: list[str] | None = None, services: list[str] | None = None) -> dict:
    out = {"id": c.seq, "uri": uri(c), "dn": c.dn, "user": c.user.name, "product": c.product.name,
           "version": c.product.version, "status": c.status, "reason": c.reason,
           "progress": c.progress, "step": c.step, "dnsname": c.dnsname, "options": c.options,
           "created": _ts(c.created), "updated": _ts(c.updated), "status_since": _ts(c.status_since)}
    if nodes is not None:
        out["nodes"] = nodes
    if services is not None:
        out["services"] = services
    return out


def job_view(job: Job) -> dict:
    c = job.cluster
    if job.kind == "destroy":
        done = c.status in (status.DESTROYED, status.FAILED)
    else:
        done = c.status in status.FINAL | {status.DESTROYING}
    return {"id": job.id, "kind": job.kind, "cluster": uri(c), "status": c.status, "progress": c.progress,
            "step": c.step, "reason": c.reason, "done": done, "created": _ts(job.created)}


def _disk_view(nd: NodeDisk, disk: Disk | None) -> dict:
    return {"name": nd.name, "destination": nd.destination, "mode": nd.mode, "type": nd.type,
            "disk": disk.name if disk else None, "path": disk.path if disk else None}


def _iface_view(iface: Interface, network_name: str) -> dict:
    return {"device": iface.device, "networkname": network_name, "type": iface.type,
            "address": iface.address}


def node_view(n: Node, disks: list[dict] | None = None, networks: list[dict] | None = None,
              host: str | None = None) -> dict:
    """The seed's node record. Pass pre-fetched disks/networks/host to avoid per-node queries."""
    if disks is None:
        disks = [_disk_view(nd, nd.disk if nd.disk_id else None) for nd in
                 NodeDisk.select(NodeDisk, Disk).join(Disk, join_type=JOIN.LEFT_OUTER)
                 .where(NodeDisk.node == n.id).order_by(NodeDisk.id)]
    if networks is None:
        networks = [_iface_view(i, i.network.name) for i in
                    Interface.select(Interface, Network).join(Network)
                    .where(Interface.node == n.id).order_by(Interface.id)]
    if host is None and n.host_id is not None:
        host = Host.get_by_id(n.host_id).name
    return {"name": n.name, "status": n.status, "reason": n.reason, "host": host,
            "id": n.container_id, "cpu": n.cpu, "mem": n.mem, "port": n.port,
            "check_ports": n.check_ports, "tags": n.tags, "required_host": n.required_host,
            "docker_image": n.docker_image, "docker_opts": n.docker_opts,
            "disks": disks, "networks": networks}


def cluster_nodes(cluster_id: int) -> list[dict]:
    """Every node of a cluster in four queries, whatever its size."""
    hosts = dict(Host.select(Host.id, Host.name).tuples())
    nodes = list(Node.select().where(Node.cluster == cluster_id).order_by(Node.id))
    disks: dict[int, list] = defaultdict(list)
    for nd in (NodeDisk.select(NodeDisk, Disk).join(Disk, join_type=JOIN.LEFT_OUTER).switch(NodeDisk)
               .join(Node).where(Node.cluster == cluster_id).order_by(NodeDisk.id)):
        disks[nd.node_id].append(_disk_view(nd, nd.disk if nd.disk_id else None))
    ifaces: dict[int, list] = defaultdict(list)
    for i in (Interface.select(Interface, Network).join(Network).switch(Interface).join(Node)
              .where(Node.cluster == cluster_id).order_by(Interface.id)):
        ifaces[i.node_id].append(_iface_view(i, i.network.name))
    return [node_view(n, disks[n.id], ifaces[n.id], hosts.get(n.host_id)) for n in nodes]



def service_view(s: Service) -> dict:
    return {"name": s.name, "nodes": s.nodes, "properties": s.properties}


def cluster_services(cluster_id: int) -> list[dict]:
    return [service_view(s) for s in Service.select().where(Service.cluster == cluster_id).order_by(Service.id)]

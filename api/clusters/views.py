"""Views: the API's shape of a cluster, its job, nodes (host, disks, interfaces) and services."""
from __future__ import annotations

import json
from collections import defaultdict

import orjson
from peewee import JOIN

from api.core import status
from api.core.config import API_PREFIX
from api.core.models import (
    Address,
    Cluster,
    Disk,
    Event,
    Host,
    Interface,
    Job,
    Network,
    Node,
    NodeDisk,
    Segment,
    Service,
)
from api.core.status import OperationStatus


def uri(cluster: Cluster) -> str:
    return f"{API_PREFIX}/{cluster.dn}"


def job_uri(job_id: int) -> str:
    return f"{API_PREFIX}/queue/{job_id}"


def _ts(value) -> str:
    return value.isoformat() if value else ""


def cluster_view(c: Cluster, nodes: list[str] | None = None, services: list[str] | None = None,
                 day2: dict | None = None) -> dict:
    """The seed's cluster record; `day2` (from `day2_of`) adds the operation it runs and its
    health."""
    out = {"id": c.seq, "uri": uri(c), "dn": c.dn, "user": c.user.name, "product": c.product.name,
           "version": c.product.version, "status": c.status, "reason": c.reason,
           "progress": c.progress, "step": c.step, "dnsname": c.dnsname, "options": c.options,
           "created": _ts(c.created), "updated": _ts(c.updated), "status_since": _ts(c.status_since),
           "health": {"status": c.health, "problems": c.problems or []}}
    out["expires"] = _ts(c.expires) or None
    out["auto_replace"] = c.auto_replace
    if day2 is not None:
        out.update(day2.get(c.id) or {"operation": None, "health": {"status": "unknown", "problems": []}})
    if nodes is not None:
        out["nodes"] = nodes
    if services is not None:
        out["services"] = services
    return out


def _iso(value) -> str:
    """A time as the driver returns it, in isoformat: text on SQLite (what peewee wrote,
    `str(datetime)`), a datetime on PostgreSQL; "" for none."""
    if value is None:
        return ""
    return value.replace(" ", "T", 1) if isinstance(value, str) else value.isoformat()


def _json(text: str | None):
    """A JSONField's text read as peewee's JSONField does, with orjson (several times
    faster) unless the text has what only Python's reader takes (NaN)."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def cluster_row_view(row: tuple, day2: dict, nodes: list[str] | None = None,
                     services: list[str] | None = None) -> dict:
    """cluster_view of a driver's row of queries.LIST_FIELDS (a page's, or a cluster's
    GET with its node and service names), with its `day2_by_status` entry."""
    (cid, seq, user, product, version, status_, reason, progress, step, dnsname, options,
     created, updated, since, expires, auto_replace) = row
    dn = f"clusters/{user}/{product}/{version}/{seq}"
    out = {"id": seq, "uri": f"{API_PREFIX}/{dn}", "dn": dn, "user": user, "product": product,
           "version": version, "status": status_, "reason": reason, "progress": progress,
           "step": step, "dnsname": dnsname, "options": _json(options),
           "created": _iso(created), "updated": _iso(updated), "status_since": _iso(since),
           "expires": _iso(expires) or None,
           "auto_replace": None if auto_replace is None else bool(auto_replace), **day2[cid]}
    if nodes is not None:
        out["nodes"] = nodes
    if services is not None:
        out["services"] = services
    return out


def _ever_ready(cluster_id: int) -> bool:
    """Whether a launch whose job does not say so reached `ready` (jobs of databases from
    before launch jobs kept it, api/core/status.transition), from its events."""
    return Event.select().where((Event.cluster == cluster_id)
                                & Event.message.startswith(f"{status.READY}")).exists()


def job_view(job: Job, cluster: Cluster | None = None) -> dict:
    """A job: a launch or destroy (status derived from its cluster's) or an operation.
    `status` is the job's own (pending|running|succeeded|failed|cancelled);
    `cluster_status` is its cluster's. Pass `cluster` (with its user and product) when
    the job was read without it, as a list of one cluster's jobs is."""
    c = cluster or job.cluster
    out = {"id": job.id, "uri": job_uri(job.id), "kind": job.kind, "op": job.kind, "cluster": uri(c),
           "cluster_status": c.status, "created": _ts(job.created), "who": job.who,
           "params": job.params or {}}
    if job.kind in ("launch", "destroy"):
        if job.kind == "destroy":
            done = c.status in (status.DESTROYED, status.FAILED)
        else:
            done = c.status in status.FINAL | {status.DESTROYING}
        # Only a destroyed cluster's launch needs to know; its job says so, or (jobs of
        # older databases) its events.
        ever = (c.status in status.GONE and job.kind == "launch"
                and (job.finished is not None or _ever_ready(c.id)))
        out.update(status=OperationStatus.derived(job.kind, c.status, ever), progress=c.progress,
                   step=c.step, reason=c.reason, done=done, started=_ts(job.created),
                   finished=_ts(job.finished) if job.kind == "launch" else "", result=None, run=None)
        return out
    out.update(status=job.status, progress=job.progress, step=job.step, reason=job.reason,
               done=job.status in OperationStatus.FINAL, started=_ts(job.started),
               finished=_ts(job.finished), result=job.result, run=job.run,
               log=f"{uri(c)}/logs?run={job.run}" if job.run else None)
    return out


def operation_brief(job_id: int, op: str, status_: str, step: str, progress: int) -> dict:
    """What the cluster view says of the operation it runs (or will run next)."""
    return {"id": job_id, "uri": job_uri(job_id), "op": op, "status": status_, "step": step,
            "progress": progress}


def _disk_view(nd: NodeDisk, disk: Disk | None) -> dict:
    return {"name": nd.name, "destination": nd.destination, "mode": nd.mode, "type": nd.type,
            "disk": disk.name if disk else None, "path": disk.path if disk else None}


def _iface_view(iface: Interface, network_name: str, subnet: str | None = None) -> dict:
    """An interface; `subnet` is its segment's (the tenant's own slice of the network)."""
    return {"device": iface.device, "networkname": network_name, "type": iface.type,
            "address": iface.address, "subnet": subnet}


def _subnets(interface_ids: list[int]) -> dict[int, str]:
    """The segment subnet of each interface that holds an address, by interface id."""
    if not interface_ids:
        return {}
    rows = (Address.select(Address.interface, Segment.subnet).join(Segment)
            .where(Address.interface.in_(interface_ids)).tuples())
    return dict(rows)


def node_view(n: Node, disks: list[dict] | None = None, networks: list[dict] | None = None,
              host: str | None = None) -> dict:
    """The seed's node record. Pass pre-fetched disks/networks/host to avoid per-node queries."""
    if disks is None:
        disks = [_disk_view(nd, nd.disk if nd.disk_id else None) for nd in
                 NodeDisk.select(NodeDisk, Disk).join(Disk, join_type=JOIN.LEFT_OUTER)
                 .where(NodeDisk.node == n.id).order_by(NodeDisk.id)]
    if networks is None:
        rows = list(Interface.select(Interface, Network).join(Network)
                    .where(Interface.node == n.id).order_by(Interface.id))
        subnets = _subnets([i.id for i in rows])
        networks = [_iface_view(i, i.network.name, subnets.get(i.id)) for i in rows]
    if host is None and n.host_id is not None:
        host = Host.get_by_id(n.host_id).name
    return {"name": n.name, "status": n.status, "reason": n.reason, "host": host,
            "id": n.container_id, "cpu": n.cpu, "mem": n.mem, "port": n.port,
            "check_ports": n.check_ports, "tags": n.tags, "required_host": n.required_host,
            "docker_image": n.docker_image, "docker_opts": n.docker_opts,
            "disks": disks, "networks": networks}


def cluster_nodes(cluster_id: int, nodes: list[Node] | None = None) -> list[dict]:
    """Every node of a cluster (or those given, a page of them) in five queries, whatever its size."""
    hosts = dict(Host.select(Host.id, Host.name).tuples())
    if nodes is None:
        nodes = list(Node.select().where(Node.cluster == cluster_id).order_by(Node.id))
    ids = [n.id for n in nodes]
    if not ids:
        return []
    disks: dict[int, list] = defaultdict(list)
    for nd in (NodeDisk.select(NodeDisk, Disk).join(Disk, join_type=JOIN.LEFT_OUTER).switch(NodeDisk)
               .join(Node).where((Node.cluster == cluster_id) & (Node.id.between(ids[0], ids[-1])))
               .order_by(NodeDisk.id)):
        disks[nd.node_id].append(_disk_view(nd, nd.disk if nd.disk_id else None))
    ifaces: dict[int, list] = defaultdict(list)
    rows = list(Interface.select(Interface, Network).join(Network).switch(Interface).join(Node)
                .where((Node.cluster == cluster_id) & (Node.id.between(ids[0], ids[-1])))
                .order_by(Interface.id))
    subnets = _subnets([i.id for i in rows])
    for i in rows:
        ifaces[i.node_id].append(_iface_view(i, i.network.name, subnets.get(i.id)))
    return [node_view(n, disks[n.id], ifaces[n.id], hosts.get(n.host_id)) for n in nodes]


def service_view(s: Service) -> dict:
    return {"name": s.name, "nodes": s.nodes, "properties": s.properties}


def cluster_services(cluster_id: int) -> list[dict]:
    return [service_view(s) for s in Service.select().where(Service.cluster == cluster_id).order_by(Service.id)]


def day2_of(clusters: list[Cluster]) -> dict[int, dict]:
    """Per cluster: the operation it runs or runs next, and its health — what its nodes say
    (a dead or lost node) and what its last day-2 operation said, when it failed. The node
    part is what the framework's survey writes in `Cluster.health` (recovery.refresh_health,
    which also records the changes as events), read here as it is now rather than as of
    the last survey, so a replaced node is not shown dead for a few seconds more.
    The plain reading: the API reads the same in compiled queries (`day2_by_status`,
    `day2_of_members`), and tests/test_views_fast.py holds both to the same answers."""
    from api.clusters import operations
    ids = [c.id for c in clusters]
    heads = operations.open_of(ids)
    failed_ops = operations.problems(ids)
    bad: dict[int, list[dict]] = defaultdict(list)
    if ids:
        for n in (Node.select(Node.cluster, Node.name, Node.status, Node.reason)
                  .where(Node.cluster.in_(ids) & Node.status.in_(status.NodeStatus.UNHEALTHY)).order_by(Node.id)):
            bad[n.cluster_id].append({"node": n.name, "status": n.status, "reason": n.reason})
    out = {}
    for c in clusters:
        head = heads.get(c.id)
        brief = operation_brief(head.id, head.kind, head.status, head.step, head.progress) if head else None
        out[c.id] = _day2(c.status, brief, bad.get(c.id, []) + failed_ops.get(c.id, []))
    return out


def day2_by_status(statuses: dict[int, str]) -> dict[int, dict]:
    """`day2_of` of a page of clusters (their status by id) in one compiled query."""
    from api.clusters.queries import page_members
    state = page_members(list(statuses))
    return {cid: _day2_of(cluster_status, state[cid]) for cid, cluster_status in statuses.items()}


def day2_of_members(cluster_id: int, cluster_status: str, members) -> dict[int, dict]:
    """`day2_of([cluster])` from what queries.members read with the cluster's names."""
    return {cluster_id: _day2_of(cluster_status, members)}


def _day2_of(cluster_status: str, members) -> dict:
    from api.clusters import operations
    problems = [{"node": name, "status": st, "reason": reason} for name, st, reason in members.unhealthy]
    if members.judged is not None and members.judged[2] == OperationStatus.FAILED:
        problems.append(operations.failed_problem(*members.judged))
    brief = operation_brief(*members.head) if members.head else None
    return _day2(cluster_status, brief, problems)


def _day2(cluster_status: str, operation: dict | None, problems: list[dict]) -> dict:
    if cluster_status in status.WATCHED:
        health = status.Health.DEGRADED if problems else status.Health.HEALTHY
    else:
        health, problems = status.Health.UNKNOWN, []
    return {"operation": operation, "health": {"status": health, "problems": problems}}

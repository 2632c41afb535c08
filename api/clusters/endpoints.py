"""A cluster's endpoints (issue 14): the ports of its nodes a user reaches from their own
machine, declared by the template (`services.<name>.endpoints`), never by a user's value.

`http` endpoints are served by the API's proxy under PROXY_PREFIX; `tcp` endpoints, and
every node's SSH port, through the tunnel (`bdp port-forward`, `bdp ssh`). This module
answers which address and port a request may reach; nothing else opens a connection to a
node on a client's behalf, so a port nobody declared is never reachable from outside.
"""
from __future__ import annotations

from api.core import status
from api.core.config import API_PREFIX, PROXY_PREFIX
from api.core.errors import Conflict, Forbidden, Invalid, NotFound
from api.core.models import Cluster, Interface, Node, Service


def proxy_base(user: str, product: str, version: str, seq: int) -> str:
    """Where a cluster's http endpoints are served (templates get it as `proxy_base`)."""
    return f"{PROXY_PREFIX}/{user}/{product}/{version}/{seq}"


def declared(cluster_id: int) -> list[dict]:
    """Every endpoint of a cluster, with the service that declares it, by service then order."""
    out = []
    for s in Service.select().where(Service.cluster == cluster_id).order_by(Service.name):
        for e in (s.properties or {}).get("endpoints") or []:
            out.append({**e, "service": s.name})
    return out


def endpoint_views(cluster: Cluster) -> list[dict]:
    """What GET .../endpoints answers: each endpoint with the URL (http) or the command
    (tcp) a user opens it with."""
    user, product = cluster.user.name, cluster.product
    base = proxy_base(user, product.name, product.version, cluster.seq)
    ref = f"{user}/{product.name}/{product.version}/{cluster.seq}"
    views = []
    for e in declared(cluster.id):
        view = {"name": e["name"], "service": e["service"], "node": e["node"], "port": e["port"],
                "protocol": e["protocol"], "path": e["path"], "url": None, "command": None,
                "reachable": cluster.status in status.REACHABLE}
        if e["protocol"] == "http":
            view["url"] = f"{base}/{e['name']}{e['path']}"
        else:
            view["command"] = f"bdp port-forward {ref} {e['node']} {e['port']}:{e['port']}"
        views.append(view)
    return views


def _reachable(cluster: Cluster) -> None:
    if cluster.status not in status.REACHABLE:
        raise Conflict(f"cluster {cluster.seq} is {cluster.status}: its nodes cannot be reached now")


def node_address(cluster: Cluster, node_name: str) -> tuple[Node, str]:
    """A node of the cluster and the address the platform reaches it on (eth0, the admin
    network, as the orchestrator does)."""
    node = Node.get_or_none((Node.cluster == cluster.id) & (Node.name == node_name))
    if node is None:
        raise NotFound(f"cluster {cluster.seq} has no node {node_name!r}")
    rows = list(Interface.select(Interface.device, Interface.address)
                .where((Interface.node == node.id) & Interface.address.is_null(False))
                .order_by(Interface.device).tuples())
    if not rows:
        raise Conflict(f"node {node_name} has no address yet (status {node.status})")
    address = dict(rows).get("eth0", rows[0][1])
    return node, address


def http_target(cluster: Cluster, endpoint: str) -> tuple[dict, str]:
    """The http endpoint `endpoint` of the cluster and its node's address, or why not."""
    found = next((e for e in declared(cluster.id) if e["name"] == endpoint), None)
    if found is None:
        raise NotFound(f"cluster {cluster.seq} has no endpoint {endpoint!r}")
    if found["protocol"] != "http":
        raise Invalid(f"endpoint {endpoint!r} is tcp: reach it with `bdp port-forward`", field="endpoint")
    _reachable(cluster)
    return found, node_address(cluster, found["node"])[1]


def tunnel_target(cluster: Cluster, node_name: str, port) -> tuple[str, int]:
    """(address, port) a tunnel to `node_name`:`port` opens, if the port is the node's SSH
    port or one of its declared endpoints; anything else is refused, naming what is allowed."""
    try:
        port = int(port)
    except (TypeError, ValueError):
        raise Invalid("port must be a number", field="port") from None
    if not 1 <= port <= 65535:
        raise Invalid(f"port must be 1-65535; got {port}", field="port")
    _reachable(cluster)
    node, address = node_address(cluster, node_name)
    allowed = {node.port} | {e["port"] for e in declared(cluster.id) if e["node"] == node_name}
    if port not in allowed:
        raise Forbidden(f"port {port} of node {node_name} is not open to tunnels; open ones: "
                        + ", ".join(str(p) for p in sorted(allowed)) + " (its SSH port and endpoints)")
    return address, port


def tunnel_path(user: str, product: str, version: str, seq: int, node: str) -> str:
    return f"{API_PREFIX}/clusters/{user}/{product}/{version}/{seq}/nodes/{node}/tunnel"

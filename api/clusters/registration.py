"""Clusters: registration (one transaction), lookup with tenant isolation, views."""
from __future__ import annotations

import functools
import io
import logging
import re

import peewee
from peewee import IntegrityError, PostgresqlDatabase, SqliteDatabase, fn

from api.catalog import options as opts
from api.catalog import product as catalog
from api.catalog import template
from api.clusters import capacity, lifetimes, quotas
from api.core import status
from api.core.config import API_PREFIX
from api.core.errors import Conflict, Invalid, Temporary
from api.core.models import (
    Cluster,
    ClusterDocument,
    Event,
    Interface,
    Job,
    JSONField,
    Network,
    Node,
    NodeDisk,
    Product,
    Service,
    User,
    db,
    utcnow,
)
from api.core.status import NodeStatus
from api.infra import host as hosts

log = logging.getLogger("bdp.clusters")

SEQ_ATTEMPTS = 20
CHUNK = 500  # rows per INSERT: well under SQLite's bound-parameter limit


# --- registration -------------------------------------------------------------------

def _next_seq(user: User, product: Product) -> int:
    top = (Cluster.select(fn.MAX(Cluster.seq))
           .where((Cluster.user == user) & (Cluster.product == product)).scalar())
    return (top or 0) + 1


def _networks(checked) -> dict[str, int]:
    """Network ids by name; a missing network is a 400 naming node, interface and network."""
    wanted = {net.networkname for node in checked.nodes.values() for net in node.networks.values()}
    rows = list(Network.select(Network.name, Network.id, Network.driver)
                .where(Network.name.in_(wanted))) if wanted else []
    found = {n.name: n.id for n in rows}
    overlays = {n.name for n in rows if n.driver == "overlay"}
    for node_name, node in checked.nodes.items():
        for device, net in node.networks.items():
            if net.networkname not in found:
                raise Invalid(f"node {node_name} interface {device} asks for network "
                                  f"{net.networkname!r}, which does not exist",
                                  field=f"nodes.{node_name}.networks.{device}.networkname")
        first = min(node.networks, key=_device_key, default=None)
        if first is not None and node.networks[first].networkname in overlays:
            # The orchestrator reaches a node on its first interface; the platform host
            # cannot route to a Swarm overlay's addresses.
            raise Invalid(f"node {node_name} interface {first} is on network "
                          f"{node.networks[first].networkname}, a Swarm overlay the platform "
                          "cannot reach: put a node's first interface on a bridge or macvlan "
                          "network", field=f"nodes.{node_name}.networks.{first}.networkname")
    return found


@functools.lru_cache(maxsize=256)  # a handful of device names, asked per node
def _device_key(device: str):
    """eth2 before eth10."""
    match = re.match(r"(\D*)(\d*)$", device)
    return (match.group(1), int(match.group(2) or 0)) if match else (device, 0)


def render(product: Product, values: dict, user: User, seq: int):
    try:
        doc, checked = template.render_document(
            product.template, product.template_format,
            template.variables(values, user.name, product.name, product.version, seq))
    except template.TemplateError as e:
        # The product's template passed its own check, so this is about these options.
        raise Invalid(f"the template of {product.name} {product.version} failed with these "
                          f"options: {e.message}", field=e.field or "template") from None
    catalog.check_docker_opts(checked, product.privileges)
    return doc, checked, _networks(checked)


def _insert_chunked(model, fields, rows) -> None:
    """Multi-row INSERTs built directly: peewee's per-value query building costs more
    than the database work for a few hundred rows (see bench/bench_registration.py).
    On PostgreSQL one COPY: quoting each value into a statement, and planning that
    statement, took longer than inserting the rows."""
    database = db.obj
    converters = [f.db_value if isinstance(f, JSONField) else None for f in fields]
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    table = model._meta.table_name
    if isinstance(database, PostgresqlDatabase):
        text = "".join("\t".join(_copy_field(conv(value) if conv else value)
                                 for conv, value in zip(converters, row)) + "\n" for row in rows)
        with peewee.__exception_wrapper__:  # psycopg2's errors as peewee's, as execute_sql gives them
            database.cursor().copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', io.StringIO(text))
        return
    one_row = "(" + ", ".join([database.param] * len(fields)) + ")"
    head = f'INSERT INTO "{table}" ({columns}) VALUES '
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        params = [conv(value) if conv else value
                  for row in chunk for conv, value in zip(converters, row)]
        database.execute_sql(head + ", ".join([one_row] * len(chunk)), params)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value) -> str:
    """One value in COPY's text format (NULL is \\N; backslash, tab and line ends escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return str.translate(value, _COPY_ESCAPES)
    raise TypeError(f"no COPY text for a {type(value).__name__}")


def store_nodes(cluster_id: int, checked, names: list[str], networks: dict[str, int]) -> None:
    """Insert the rows of the rendered nodes `names` (queued, on no host yet): node, disks,
    interfaces. Launch stores every node; a resize the ones it adds."""
    N = Node
    node_fields = [N.cluster, N.name, N.status, N.reason, N.cpu, N.mem, N.port, N.check_ports, N.tags,
                   N.required_host, N.docker_image, N.docker_opts, N.container_id]
    wanted = [(name, checked.nodes[name]) for name in names]
    _insert_chunked(Node, node_fields, [
        (cluster_id, name, NodeStatus.QUEUED, "", n.cpu, n.mem, n.port, n.check_ports, n.tags, n.required_host,
         n.docker_image, n.docker_opts, "") for name, n in wanted])
    ids = dict(Node.select(Node.name, Node.id).where(Node.cluster == cluster_id).tuples())
    disks, ifaces = [], []
    for name, n in wanted:
        node_id = ids[name]
        disks.extend((node_id, d, spec.destination, spec.mode, spec.type, spec.origin)
                     for d, spec in n.disks.items())
        ifaces.extend((node_id, dev, networks[net.networkname], net.type) for dev, net in n.networks.items())
    if disks:
        _insert_chunked(NodeDisk, [NodeDisk.node, NodeDisk.name, NodeDisk.destination, NodeDisk.mode,
                                   NodeDisk.type, NodeDisk.origin], disks)
    if ifaces:
        _insert_chunked(Interface, [Interface.node, Interface.device, Interface.network, Interface.type],
                        ifaces)


def _properties(raw: dict, checked) -> dict:
    """A service's properties as the playbook reads them; endpoints as checked (defaults filled)."""
    props = {k: v for k, v in raw.items() if k != "nodes"}
    if checked.endpoints:
        props["endpoints"] = [e.model_dump() for e in checked.endpoints]
    return props


def store_services(cluster_id: int, doc: dict, checked) -> int:
    """Insert the rendered document's services; returns how many."""
    services = [(cluster_id, name, s.nodes, _properties(doc["services"][name], s))
                for name, s in checked.services.items()]
    if services:
        _insert_chunked(Service, [Service.cluster, Service.name, Service.nodes, Service.properties], services)
    return len(services)


def _store(user: User, product: Product, seq: int, values: dict, doc: dict, checked, networks) -> tuple[int, int]:
    now = utcnow()
    cluster_id = Cluster.insert(user=user, product=product, seq=seq, status=status.REGISTERED,
                                options=values, dnsname=checked.dnsname,
                                status_since=now, created=now, updated=now).execute()
    ClusterDocument.insert(cluster=cluster_id, document=doc).execute()
    store_nodes(cluster_id, checked, list(checked.nodes), networks)
    services = store_services(cluster_id, doc, checked)
    job_id = Job.insert(cluster=cluster_id, kind="launch", created=now, who=user.name).execute()
    Event.insert(cluster=cluster_id, time=now, component="api", level="info",
                 message=f"registered: {len(checked.nodes)} node(s), {services} service(s)").execute()
    return cluster_id, job_id


def write_transaction():
    # BEGIN IMMEDIATE on SQLite: take the write lock first, so two launches queue on the
    # busy timeout instead of failing to upgrade a read lock.
    if isinstance(db.obj, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def _check_capacity(platform, checked) -> None:
    check_capacity(checked, platform.settings.max_nodes)


def check_capacity(checked, max_nodes: int) -> None:
    """Refuse, with the reason, a cluster no host could ever run (api/clusters/capacity.py)."""
    known = [o for o in hosts.offers() if o.state != "lost"]
    verdict = capacity.never_fits(capacity.needs_of(checked),
                                  [capacity.Capacity(o.host, o.total_cpus, o.total_mem, o.all_disks)
                                   for o in known], max_nodes)
    if verdict:
        raise Invalid(f"this cluster can never be placed: {verdict[1]}", field=verdict[0])


def _first_render(user: User, product: Product, given):
    """The checked options, the cluster id a launch would take now, and the document
    rendered with both: what preview shows is what launch registers."""
    if not product.template:
        raise Conflict(f"product {product.name} {product.version} has no template yet; "
                       "PUT one to .../template first", field="template")
    given, platform_keys = lifetimes.split_launch(given)
    values = opts.merge(product.options, given)
    seq = _next_seq(user, product)
    return values, seq, render(product, values, user, seq), platform_keys


def preview(user: User, product: Product, given) -> dict:
    """What a launch with `given` would register, without registering anything (the
    `helm template` of a product): the checked options and the rendered document, with
    the next cluster id of this user and product."""
    values, seq, (doc, checked, _), _platform_keys = _first_render(user, product, given)
    return {"cluster": f"{API_PREFIX}/clusters/{user.name}/{product.name}/{product.version}/{seq}",
            "options": values, "document": doc,
            "nodes": len(checked.nodes), "services": len(checked.services)}


def launch(platform, user: User, product: Product, given) -> tuple[str, int, int]:
    """Register a cluster of `product` for `user`; returns its URI, id (seq) and job id.
    `lifetime` and `auto_replace` in `given` are the platform's, not the product's options."""
    values, seq, (doc, checked, networks), platform_keys = _first_render(user, product, given)
    expires = lifetimes.at_launch(platform_keys.get("lifetime"), product, platform.settings)
    _check_capacity(platform, checked)
    for _attempt in range(SEQ_ATTEMPTS):
        try:
            with write_transaction():
                actual = _next_seq(user, product)
                if actual != seq:  # another launch took this id: the template may use it
                    seq = actual
                    doc, checked, networks = render(product, values, user, seq)
                quotas.check(user, quotas.of_checked(checked))
                cluster_id, job_id = _store(user, product, seq, values, doc, checked, networks)
                Cluster.update(expires=expires, auto_replace=platform_keys.get("auto_replace")).where(
                    Cluster.id == cluster_id).execute()
            break
        except IntegrityError:
            # Two launches picked the same id at once (PostgreSQL): try the next one.
            # If the id is still free the error is something else: let it surface.
            if _next_seq(user, product) == seq:
                raise
            seq = _next_seq(user, product)
            doc, checked, networks = render(product, values, user, seq)
    else:
        raise Temporary("too many simultaneous launches; try again")
    platform.wake("framework")
    return f"{API_PREFIX}/clusters/{user.name}/{product.name}/{product.version}/{seq}", seq, job_id


def destroy(user: User, cluster: Cluster) -> int | None:
    """Move a cluster to `destroying`; returns the destroy job's id. Harmless when repeated."""
    if status.transition(cluster, status.DESTROYING, "api", f"destroy requested by {user.name}"):
        return Job.insert(cluster=cluster.id, kind="destroy", created=utcnow(), who=user.name).execute()
    cluster.status = Cluster.select(Cluster.status).where(Cluster.id == cluster.id).scalar()
    if cluster.status not in (status.DESTROYING, status.DESTROYED):
        raise Conflict(f"cluster is {cluster.status} and cannot be destroyed now; try again")
    last = Job.select(Job.id).where((Job.cluster == cluster.id) & (Job.kind == "destroy")).order_by(
        Job.id.desc()).first()
    return last.id if last else None



"""Clusters: registration (one transaction), lookup with tenant isolation, views."""
from __future__ import annotations

import logging

from peewee import IntegrityError, SqliteDatabase, fn

from . import options as opts
from . import status, template
from .auth import is_admin
from .config import API_PREFIX
from .errors import APIError, bad_request, conflict, not_found, parse_id
from .models import JSONField, Cluster, Event, Interface, Job, Network, Node, NodeDisk, Product, Service, User, db, utcnow

log = logging.getLogger("bdp.clusters")

SEQ_ATTEMPTS = 20
CHUNK = 500  # rows per INSERT: well under SQLite's bound-parameter limit


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


# Views never need the rendered document or the product's template and playbook.
_CLUSTER_FIELDS = [f for f in Cluster._meta.sorted_fields if f is not Cluster.document]
_PRODUCT_FIELDS = [Product.id, Product.name, Product.version]


def _query():
    return (Cluster.select(*_CLUSTER_FIELDS, User, *_PRODUCT_FIELDS)
            .join(User).switch(Cluster).join(Product))


def check_tenant(req_user: User, user: str) -> None:
    """A user sees only their own namespace; the answer does not depend on what exists in others."""
    if not is_admin(req_user) and req_user.name != user:
        raise APIError(403, "Forbidden", f"clusters of {user} belong to {user}; you are {req_user.name}")


def find_cluster(req_user: User, user: str, product: str, version: str, seq) -> Cluster:
    check_tenant(req_user, user)
    seq = parse_id(seq, f"cluster clusters/{user}/{product}/{version}/")
    c = _query().where((User.name == user) & (Product.name == product) & (Product.version == version)
                       & (Cluster.seq == seq)).first()
    if c is None:
        raise not_found(f"no cluster clusters/{user}/{product}/{version}/{seq}")
    return c


def list_clusters(req_user: User, user: str | None = None, product: str | None = None,
                  version: str | None = None) -> list[Cluster]:
    query = _query()
    if user is not None:
        check_tenant(req_user, user)
        query = query.where(User.name == user)
    elif not is_admin(req_user):
        query = query.where(Cluster.user == req_user)
    if product is not None:
        query = query.where(Product.name == product)
    if version is not None:
        query = query.where(Product.version == version)
    return list(query.order_by(Cluster.id))


# --- registration -------------------------------------------------------------------

def _next_seq(user: User, product: Product) -> int:
    top = (Cluster.select(fn.MAX(Cluster.seq))
           .where((Cluster.user == user) & (Cluster.product == product)).scalar())
    return (top or 0) + 1


def _networks(checked) -> dict[str, int]:
    """Network ids by name; a missing network is a 400 naming node, interface and network."""
    wanted = {net.networkname for node in checked.nodes.values() for net in node.networks.values()}
    found = dict(Network.select(Network.name, Network.id).where(Network.name.in_(wanted)).tuples()) if wanted else {}
    for node_name, node in checked.nodes.items():
        for device, net in node.networks.items():
            if net.networkname not in found:
                raise bad_request(f"node {node_name} interface {device} asks for network "
                                  f"{net.networkname!r}, which does not exist",
                                  field=f"nodes.{node_name}.networks.{device}.networkname")
    return found


def _render(product: Product, values: dict, user: User, seq: int):
    try:
        doc, checked = template.render_document(
            product.template, product.template_format,
            template.variables(values, user.name, product.name, product.version, seq))
    except template.TemplateError as e:
        # The product's template passed its own check, so this is about these options.
        raise bad_request(f"the template of {product.name} {product.version} failed with these "
                          f"options: {e.message}", field=e.field or "template") from None
    return doc, checked, _networks(checked)


def _insert_chunked(model, fields, rows) -> None:
    """Multi-row INSERTs built directly: peewee's per-value query building costs more
    than the database work for a few hundred rows (see bench/bench_registration.py)."""
    database = db.obj
    converters = [f.db_value if isinstance(f, JSONField) else None for f in fields]
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    one_row = "(" + ", ".join([database.param] * len(fields)) + ")"
    head = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES '
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        params = [conv(value) if conv else value
                  for row in chunk for conv, value in zip(converters, row)]
        database.execute_sql(head + ", ".join([one_row] * len(chunk)), params)


def _store(user: User, product: Product, seq: int, values: dict, doc: dict, checked, networks) -> tuple[int, int]:
    now = utcnow()
    cluster_id = Cluster.insert(user=user, product=product, seq=seq, status=status.REGISTERED,
                                options=values, dnsname=checked.dnsname, document=doc,
                                status_since=now, created=now, updated=now).execute()
    N = Node
    node_fields = [N.cluster, N.name, N.status, N.reason, N.cpu, N.mem, N.port, N.check_ports, N.tags,
                   N.required_host, N.docker_image, N.docker_opts, N.container_id]
    _insert_chunked(Node, node_fields, [
        (cluster_id, name, "queued", "", n.cpu, n.mem, n.port, n.check_ports, n.tags, n.required_host,
         n.docker_image, n.docker_opts, "") for name, n in checked.nodes.items()])
    ids = dict(Node.select(Node.name, Node.id).where(Node.cluster == cluster_id).tuples())
    disks, ifaces = [], []
    for name, n in checked.nodes.items():
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
    services = [(cluster_id, name, s.nodes, {k: v for k, v in doc["services"][name].items() if k != "nodes"})
                for name, s in checked.services.items()]
    if services:
        _insert_chunked(Service, [Service.cluster, Service.name, Service.nodes, Service.properties], services)
    job_id = Job.insert(cluster=cluster_id, kind="launch", created=now).execute()
    Event.insert(cluster=cluster_id, time=now, component="api", level="info",
                 message=f"registered: {len(checked.nodes)} node(s), {len(services)} service(s)").execute()
    return cluster_id, job_id


def _transaction():
    # BEGIN IMMEDIATE on SQLite: take the write lock first, so two launches queue on the
    # busy timeout instead of failing to upgrade a read lock.
    if isinstance(db.obj, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


def launch(platform, user: User, product: Product, given) -> tuple[str, int, int]:
    """Register a cluster of `product` for `user`; returns its URI, id (seq) and job id."""
    if not product.template:
        raise conflict(f"product {product.name} {product.version} has no template yet; "
                       "PUT one to .../template first", field="template")
    values = opts.merge(product.options, given)
    seq = _next_seq(user, product)
    doc, checked, networks = _render(product, values, user, seq)
    for _attempt in range(SEQ_ATTEMPTS):
        try:
            with _transaction():
                actual = _next_seq(user, product)
                if actual != seq:  # another launch took this id: the template may use it
                    seq = actual
                    doc, checked, networks = _render(product, values, user, seq)
                cluster_id, job_id = _store(user, product, seq, values, doc, checked, networks)
            break
        except IntegrityError:
            # Two launches picked the same id at once (PostgreSQL): try the next one.
            # If the id is still free the error is something else: let it surface.
            if _next_seq(user, product) == seq:
                raise
            seq = _next_seq(user, product)
            doc, checked, networks = _render(product, values, user, seq)
    else:
        raise APIError(503, "Service Unavailable", "too many simultaneous launches; try again")
    platform.wake("framework")
    return f"{API_PREFIX}/clusters/{user.name}/{product.name}/{product.version}/{seq}", seq, job_id


def destroy(user: User, cluster: Cluster) -> int | None:
    """Move a cluster to `destroying`; returns the destroy job's id. Harmless when repeated."""
    if status.transition(cluster, status.DESTROYING, "api", f"destroy requested by {user.name}"):
        return Job.insert(cluster=cluster.id, kind="destroy", created=utcnow()).execute()
    cluster.status = Cluster.select(Cluster.status).where(Cluster.id == cluster.id).scalar()
    if cluster.status not in (status.DESTROYING, status.DESTROYED):
        raise conflict(f"cluster is {cluster.status} and cannot be destroyed now; try again")
    last = Job.select(Job.id).where((Job.cluster == cluster.id) & (Job.kind == "destroy")).order_by(
        Job.id.desc()).first()
    return last.id if last else None


def job_view(job: Job) -> dict:
    c = job.cluster
    if job.kind == "destroy":
        done = c.status in (status.DESTROYED, status.FAILED)
    else:
        done = c.status in status.FINAL | {status.DESTROYING}
    return {"id": job.id, "kind": job.kind, "cluster": uri(c), "status": c.status, "progress": c.progress,
            "step": c.step, "reason": c.reason, "done": done, "created": _ts(job.created)}


def find_job(req_user: User, job_id) -> Job:
    job_id = parse_id(job_id, "job ")
    job = (Job.select(Job, *_CLUSTER_FIELDS, User, *_PRODUCT_FIELDS).join(Cluster).join(User).switch(Cluster).join(Product)
           .where(Job.id == job_id).first())
    # Another user's job is "not found": job ids are global and would leak activity.
    if job is None or not (is_admin(req_user) or job.cluster.user_id == req_user.id):
        raise not_found(f"no job {job_id}")
    return job

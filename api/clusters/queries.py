"""Finding clusters and jobs, with tenant isolation: a user sees only their own
namespace, and the answer never depends on what exists in someone else's."""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import SQL, Value

from api.core import status
from api.core.auth import is_admin
from api.core.compiled import Compiled
from api.core.errors import Forbidden, NotFound, parse_id
from api.core.models import Cluster, ClusterDocument, Job, Node, Product, Service, User

# Views never need the product's template and playbook.
_CLUSTER_FIELDS = list(Cluster._meta.sorted_fields)
_PRODUCT_FIELDS = [Product.id, Product.name, Product.version]


def _query():
    return (Cluster.select(*_CLUSTER_FIELDS, User, *_PRODUCT_FIELDS)
            .join(User).switch(Cluster).join(Product))


def check_tenant(req_user: User, user: str) -> None:
    """A user sees only their own namespace; the answer does not depend on what exists in others."""
    if not is_admin(req_user) and req_user.name != user:
        raise Forbidden(f"clusters of {user} belong to {user}; you are {req_user.name}")


# The one lookup every cluster request makes, compiled once (api/core/compiled.py).
_FIND = Compiled(lambda u, p, v, s: _query().where(
    (User.name == u) & (Product.name == p) & (Product.version == v) & (Cluster.seq == s)).limit(1),
    "\0user", "\0product", "\0version", -(2 ** 62))


def find_cluster(req_user: User, user: str, product: str, version: str, seq) -> Cluster:
    check_tenant(req_user, user)
    seq = parse_id(seq, f"cluster clusters/{user}/{product}/{version}/")
    c = _FIND.first(user, product, version, seq)
    if c is None:
        raise NotFound(f"no cluster clusters/{user}/{product}/{version}/{seq}")
    return c


# What a listed cluster shows, as plain values (views.cluster_row_view): building a
# model instance and its joined user and product per row cost most of a page's time.
LIST_FIELDS = (Cluster.id, Cluster.seq, User.name, Product.name, Product.version, Cluster.status,
               Cluster.reason, Cluster.progress, Cluster.step, Cluster.dnsname, Cluster.options,
               Cluster.created, Cluster.updated, Cluster.status_since, Cluster.expires,
               Cluster.auto_replace)


def list_clusters(req_user: User, user: str | None = None, product: str | None = None,
                  version: str | None = None, statuses: set[str] | None = None,
                  destroyed_since=None):
    """The clusters `req_user` may see, filtered, as tuples of LIST_FIELDS; a query, so
    callers page it. `destroyed_since`: leave out clusters destroyed before that time."""
    query = (Cluster.select(*LIST_FIELDS).join(User).switch(Cluster).join(Product)).tuples()
    if user is not None:
        check_tenant(req_user, user)
        query = query.where(User.name == user)
    elif not is_admin(req_user):
        query = query.where(Cluster.user == req_user)
    if product is not None:
        query = query.where(Product.name == product)
    if version is not None:
        query = query.where(Product.version == version)
    if statuses:
        query = query.where(Cluster.status.in_(sorted(statuses)))
    if destroyed_since is not None:
        query = query.where((Cluster.status != status.DESTROYED) | (Cluster.status_since >= destroyed_since))
    return query


@dataclass
class Members:
    """What a cluster's view shows beyond its row: its node and service names (a cluster
    GET only), its unhealthy nodes, its head operation and the last one that judges its
    health."""
    nodes: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    unhealthy: list[tuple[str, str, str]] = field(default_factory=list)  # name, status, reason
    head: tuple | None = None  # id, op, status, step, progress
    judged: tuple | None = None  # id, op, status, reason


def _state(clusters, one: bool):
    """Members of `clusters` (a tuple of ids) in one round trip (on PostgreSQL each query
    is one, and a read's cost is mostly round trips): rows (kind, cluster, name or op, id,
    status, text, progress); kind 0 = node (every one for `one` cluster's GET, else the
    unhealthy ones), 1 = service (`one` only), 2 = head operation, 3 = judged operation."""
    from api.clusters import operations
    nodes = (Node.select(Value(0), Node.cluster, Node.name, Node.id, Node.status, Node.reason, Value(0))
             .where(Node.cluster.in_(clusters)))
    head = Job.select(Value(2), Job.cluster, Job.kind, Job.id, Job.status, Job.step, Job.progress).where(
        Job.id.in_(operations.head_ids(Job.cluster.in_(clusters))))
    judged = Job.select(Value(3), Job.cluster, Job.kind, Job.id, Job.status, Job.reason, Value(0)).where(
        Job.id.in_(operations.judged_ids(Job.cluster.in_(clusters))))
    if one:
        services = (Service.select(Value(1), Service.cluster, Service.name, Service.id, Value(""), Value(""),
                                   Value(0)).where(Service.cluster.in_(clusters)))
        union = nodes + services + head + judged
    else:
        union = nodes.where(Node.status.in_(status.NodeStatus.UNHEALTHY)) + head + judged
    return union.order_by(SQL("1"), SQL("4")).tuples()


_PLACEHOLDER = -(2 ** 62)
_MEMBERS = Compiled(lambda c: _state((c,), one=True), _PLACEHOLDER)
# Pages of a list, compiled once per page size (peewee builds an IN of 100 ids in more
# time than the database takes to answer it).
_PAGES: dict[int, Compiled] = {}


def _read(rows, out: dict[int, Members]) -> dict[int, Members]:
    for kind, cid, name, row_id, status_, text, progress in rows:
        m = out.setdefault(cid, Members())
        if kind == 0:
            m.nodes.append(name)  # every node of a GET's cluster; a page's unhealthy ones
            if status_ in status.NodeStatus.UNHEALTHY:
                m.unhealthy.append((name, status_, text))
        elif kind == 1:
            m.services.append(name)
        elif kind == 2:
            m.head = (row_id, name, status_, text, progress)
        else:
            m.judged = (row_id, name, status_, text)
    return out


def members(cluster_id: int) -> Members:
    """One cluster's Members, names included."""
    return _read(_MEMBERS.rows(cluster_id), {cluster_id: Members()})[cluster_id]


def page_members(cluster_ids: list[int]) -> dict[int, Members]:
    """Members of each cluster of a page (no names), by id, in one compiled query."""
    if not cluster_ids:
        return {}
    query = _PAGES.get(len(cluster_ids))
    if query is None:
        marks = tuple(_PLACEHOLDER + i for i in range(len(cluster_ids)))
        query = _PAGES[len(cluster_ids)] = Compiled(lambda *c: _state(c, one=False), *marks)
    return _read(query.rows(*cluster_ids), {cid: Members() for cid in cluster_ids})


def find_job(req_user: User, job_id) -> Job:
    job_id = parse_id(job_id, "job ")
    job = (Job.select(Job, *_CLUSTER_FIELDS, User, *_PRODUCT_FIELDS).join(Cluster).join(User).switch(Cluster).join(Product)
           .where(Job.id == job_id).first())
    # Another user's job is "not found": job ids are global and would leak activity.
    if job is None or not (is_admin(req_user) or job.cluster.user_id == req_user.id):
        raise NotFound(f"no job {job_id}")
    return job


def cluster_document(cluster_id: int) -> dict:
    """The rendered template a cluster was registered with."""
    row = ClusterDocument.get_or_none(ClusterDocument.cluster == cluster_id)
    return row.document if row else {}

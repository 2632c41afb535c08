"""Finding clusters and jobs, with tenant isolation: a user sees only their own
namespace, and the answer never depends on what exists in someone else's."""
from __future__ import annotations

import datetime as dt
import functools
import operator
from dataclasses import dataclass, field

from peewee import JOIN, SQL, Cast, PostgresqlDatabase, Value, fn

from api.core import status
from api.core.auth import is_admin
from api.core.compiled import Compiled
from api.core.errors import Forbidden, NotFound, parse_id
from api.core.models import Cluster, ClusterDocument, ClusterStamp, Job, Node, Product, Service, User, db

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
_MARKS = ("\0user", "\0product", "\0version", -(2 ** 62))
def _named(u, p, v, s):
    """The condition of the cluster clusters/u/p/v/s. The user and the product are found
    first, by their unique names, so the cluster is one probe of its (user, product, seq)
    index; joined and filtered on names instead, PostgreSQL walked all the user's clusters
    for the seq (0.13 ms at 10,000, issue 13)."""
    return ((Cluster.user == User.select(User.id).where(User.name == u))
            & (Cluster.product == Product.select(Product.id).where((Product.name == p) & (Product.version == v)))
            & (Cluster.seq == s))


_FIND = Compiled(lambda u, p, v, s: _query().where(_named(u, p, v, s)).limit(1), *_MARKS)


def _lookup(compiled: Compiled, read, req_user: User, user: str, product: str, version: str, seq):
    check_tenant(req_user, user)
    seq = parse_id(seq, f"cluster clusters/{user}/{product}/{version}/")
    rows = read(compiled, user, product, version, seq)
    if not rows:
        raise NotFound(f"no cluster clusters/{user}/{product}/{version}/{seq}")
    return rows


def find_cluster(req_user: User, user: str, product: str, version: str, seq) -> Cluster:
    return _lookup(_FIND, Compiled.rows, req_user, user, product, version, seq)[0]


def _stamp_of(cluster_id):
    """The cluster's stamp (api/core/stamps.py), NULL if it has none: a subselect."""
    return ClusterStamp.select(ClusterStamp.stamp).where(ClusterStamp.cluster == cluster_id)


_STAMP = Compiled(lambda u, p, v, s: Cluster.select(Cluster.id, _stamp_of(Cluster.id)).where(_named(u, p, v, s)),
                  *_MARKS)


def cluster_stamp(req_user: User, user: str, product: str, version: str, seq) -> tuple[int, int | None]:
    """The id and stamp of find_cluster's cluster: one probe of an index, for readers
    that kept its view (None: no stamp, nothing may be kept)."""
    return _lookup(_STAMP, Compiled.raw, req_user, user, product, version, seq)[0]


# What a listed cluster shows, as plain values (views.cluster_row_view): building a
# model instance and its joined user and product per row cost most of a page's time.
LIST_FIELDS = (Cluster.id, Cluster.seq, User.name, Product.name, Product.version, Cluster.status,
               Cluster.reason, Cluster.progress, Cluster.step, Cluster.dnsname, Cluster.options,
               Cluster.created, Cluster.updated, Cluster.status_since, Cluster.expires,
               Cluster.auto_replace)


def _list_marks(filters: tuple[str, ...], statuses: int) -> tuple:
    """Placeholders of a list query's values, in cluster_page's order (api/core/compiled.py)."""
    kinds = {"user": "\0user", "owner": -(2 ** 62) + 1, "product": "\0product", "version": "\0version",
             "since": dt.datetime(1, 1, 1, 0, 0, 7), "after": -(2 ** 62) + 2}
    return (*(kinds[f] for f in filters), *(f"\0status{i}" for i in range(statuses)), -(2 ** 62) + 3)


def _list_query(filters: tuple[str, ...], statuses: int, *values):
    """Each cluster's id and stamp, joined to users and products only where a filter
    needs their names (on PostgreSQL the joins were half the query's time)."""
    given = dict(zip(filters, values))
    wanted = values[len(filters):len(filters) + statuses]
    query = (Cluster.select(Cluster.id, ClusterStamp.stamp)
             .join(ClusterStamp, JOIN.LEFT_OUTER, on=(ClusterStamp.cluster == Cluster.id)))
    if "user" in given:
        query = query.switch(Cluster).join(User)
    if "product" in given or "version" in given:
        query = query.switch(Cluster).join(Product)
    conditions = {"user": lambda v: User.name == v, "owner": lambda v: Cluster.user == v,
                  "product": lambda v: Product.name == v, "version": lambda v: Product.version == v,
                  # Destroyed clusters stay listed for a window after they went.
                  "since": lambda v: (Cluster.status != status.DESTROYED) | (Cluster.status_since >= v),
                  "after": lambda v: Cluster.id > v}
    for name, value in given.items():
        query = query.where(conditions[name](value))
    if wanted:
        query = query.where(Cluster.status.in_(list(wanted)))
    return query.order_by(Cluster.id).limit(values[-1])


# Each shape of list (which filters it has, how many statuses) compiled once: at most
# 2**6 * len(status.ALL) of them.
_LISTS: dict[tuple, Compiled] = {}


def cluster_page(req_user: User, limit: int, after: int | None = None, user: str | None = None,
                 product: str | None = None, version: str | None = None,
                 statuses: set[str] | None = None, destroyed_since=None) -> list[tuple[int, int | None]]:
    """Up to `limit` clusters `req_user` may see with an id above `after`, filtered, in id
    order, as (id, stamp) rows: a page keeps the views of the clusters it shows
    (api/http/view_cache.py), and cluster_rows reads those it has not kept.
    `destroyed_since`: leave out clusters destroyed before that time."""
    owner = None
    if user is not None:
        check_tenant(req_user, user)
    elif not is_admin(req_user):
        owner = req_user.id
    given = (("user", user), ("owner", owner), ("product", product), ("version", version),
             ("since", destroyed_since), ("after", after))
    filters = tuple(name for name, value in given if value is not None)
    wanted = sorted(statuses or ())
    shape = (filters, len(wanted))
    query = _LISTS.get(shape)
    if query is None:
        query = _LISTS[shape] = Compiled(lambda *v: _list_query(filters, len(wanted), *v),
                                         *_list_marks(filters, len(wanted)))
    return query.raw(*(value for _, value in given if value is not None), *wanted, limit)




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


def _within(column, clusters):
    """`column` is one of `clusters`: a tuple of ids (an IN of one parameter each), or the
    placeholder of one PostgreSQL array ('{1,2,3}'), which a page's hundred ids pass as
    one value (psycopg2 quotes each parameter in Python; 300 of them cost more than the
    query, issue 13)."""
    if isinstance(clusters, str):
        return column == fn.ANY(Cast(clusters, "bigint[]"))
    return column.in_(clusters)


def _branches(clusters, one: bool, pad: int = 0) -> list:
    """The selects of the members of `clusters` (see _within): rows (kind, cluster, name
    or op, id, status, text, progress, then `pad` NULLs); kind 0 = node (every one for
    `one` cluster's GET, else the unhealthy ones), 1 = service (`one` only), 2 = head
    operation, 3 = judged operation."""
    from api.clusters import operations
    nulls = [SQL("NULL")] * pad
    nodes = (Node.select(Value(0), Node.cluster, Node.name, Node.id, Node.status, Node.reason, Value(0), *nulls)
             .where(_within(Node.cluster, clusters)))
    head = Job.select(Value(2), Job.cluster, Job.kind, Job.id, Job.status, Job.step, Job.progress, *nulls).where(
        Job.id.in_(operations.head_ids(_within(Job.cluster, clusters))))
    judged = Job.select(Value(3), Job.cluster, Job.kind, Job.id, Job.status, Job.reason, Value(0), *nulls).where(
        Job.id.in_(operations.judged_ids(_within(Job.cluster, clusters))))
    if not one:
        return [nodes.where(Node.status.in_(status.NodeStatus.UNHEALTHY)), head, judged]
    services = (Service.select(Value(1), Service.cluster, Service.name, Service.id, Value(""), Value(""),
                               Value(0), *nulls).where(_within(Service.cluster, clusters)))
    return [nodes, services, head, judged]


def _union(selects):
    """One round trip (on PostgreSQL each query is one, and a read's cost is mostly
    round trips), ordered by kind, then id."""
    return functools.reduce(operator.add, selects).order_by(SQL("1"), SQL("4")).tuples()


def _one_state(cluster_id):
    """A cluster's row (kind -1: six NULLs, then LIST_FIELDS and its stamp) and its
    members (padded with NULLs to the same width), by its id, in one query."""
    record = (Cluster.select(Value(-1), *[SQL("NULL")] * 6, *LIST_FIELDS, _stamp_of(Cluster.id))
              .join(User).switch(Cluster).join(Product).where(Cluster.id == cluster_id))
    return _union([record, *_branches((cluster_id,), one=True, pad=len(LIST_FIELDS) + 1)])


_PLACEHOLDER = -(2 ** 62)
_ONE = Compiled(_one_state, _PLACEHOLDER)


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


def cluster_state(cluster_id: int) -> tuple[tuple, Members, int | None]:
    """A cluster (found, and its reader's tenancy checked, by cluster_stamp) as the driver's
    row of LIST_FIELDS (what its GET shows), its Members, names included, and the stamp
    they are at, in one round trip."""
    rows = _ONE.raw(cluster_id)
    if not rows or rows[0][0] != -1:  # its row comes first; removed since it was found
        raise NotFound(f"cluster {cluster_id} was removed while it was read")
    record, stamp = rows[0][7:-1], rows[0][-1]
    return record, _read((r[:7] for r in rows[1:]), {record[0]: Members()})[record[0]], stamp


def _of_ids(by_count: dict[int, Compiled], array: Compiled, build, cluster_ids: list[int]) -> list[tuple]:
    """Rows of `build(clusters)` (see _within) for these ids: compiled once per count of
    ids (peewee builds an IN of 100 ids in more time than the database answers it), or
    on PostgreSQL once, with the ids as one array."""
    if isinstance(db.obj, PostgresqlDatabase):
        return array.raw("{" + ",".join(str(int(c)) for c in cluster_ids) + "}")
    query = by_count.get(len(cluster_ids))
    if query is None:
        marks = tuple(_PLACEHOLDER + i for i in range(len(cluster_ids)))
        query = by_count[len(cluster_ids)] = Compiled(lambda *c: build(c), *marks)
    return query.raw(*cluster_ids)


def _page_members(clusters):
    return _union(_branches(clusters, one=False))


# Members of pages: by page size, or one array (_of_ids).
_PAGES: dict[int, Compiled] = {}
_PAGE_ARRAY = Compiled(_page_members, "\0clusters")


def page_members(cluster_ids: list[int]) -> dict[int, Members]:
    """Members of each cluster of a page (no names), by id, in one compiled query."""
    if not cluster_ids:
        return {}
    out = {cid: Members() for cid in cluster_ids}
    return _read(_of_ids(_PAGES, _PAGE_ARRAY, _page_members, cluster_ids), out)


def _rows_of(clusters):
    return (Cluster.select(*LIST_FIELDS, _stamp_of(Cluster.id)).join(User).switch(Cluster).join(Product)
            .where(_within(Cluster.id, clusters)).order_by(Cluster.id).tuples())


_ROWS: dict[int, Compiled] = {}
_ROWS_ARRAY = Compiled(_rows_of, "\0clusters")


def cluster_rows(cluster_ids: list[int]) -> list[tuple]:
    """The rows of LIST_FIELDS, each followed by its stamp, of these clusters (those of a
    page whose views were not kept), in id order."""
    return _of_ids(_ROWS, _ROWS_ARRAY, _rows_of, cluster_ids) if cluster_ids else []


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

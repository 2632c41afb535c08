"""Finding clusters and jobs, with tenant isolation: a user sees only their own
namespace, and the answer never depends on what exists in someone else's."""
from __future__ import annotations

from api.core.auth import is_admin
from api.core.errors import Forbidden, NotFound, parse_id
from api.core.models import Cluster, Job, Product, User

# Views never need the rendered document or the product's template and playbook.
_CLUSTER_FIELDS = [f for f in Cluster._meta.sorted_fields if f is not Cluster.document]
_PRODUCT_FIELDS = [Product.id, Product.name, Product.version]


def _query():
    return (Cluster.select(*_CLUSTER_FIELDS, User, *_PRODUCT_FIELDS)
            .join(User).switch(Cluster).join(Product))


def check_tenant(req_user: User, user: str) -> None:
    """A user sees only their own namespace; the answer does not depend on what exists in others."""
    if not is_admin(req_user) and req_user.name != user:
        raise Forbidden(f"clusters of {user} belong to {user}; you are {req_user.name}")


def find_cluster(req_user: User, user: str, product: str, version: str, seq) -> Cluster:
    check_tenant(req_user, user)
    seq = parse_id(seq, f"cluster clusters/{user}/{product}/{version}/")
    c = _query().where((User.name == user) & (Product.name == product) & (Product.version == version)
                       & (Cluster.seq == seq)).first()
    if c is None:
        raise NotFound(f"no cluster clusters/{user}/{product}/{version}/{seq}")
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


def find_job(req_user: User, job_id) -> Job:
    job_id = parse_id(job_id, "job ")
    job = (Job.select(Job, *_CLUSTER_FIELDS, User, *_PRODUCT_FIELDS).join(Cluster).join(User).switch(Cluster).join(Product)
           .where(Job.id == job_id).first())
    # Another user's job is "not found": job ids are global and would leak activity.
    if job is None or not (is_admin(req_user) or job.cluster.user_id == req_user.id):
        raise NotFound(f"no job {job_id}")
    return job

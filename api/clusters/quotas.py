"""Quotas: how much one user may hold at once: clusters, nodes, cpus, memory (MB) and
disks (issue 12). A user's own `Quota` row, else the default row (no user), else no
limit. What a user holds: every cluster of theirs that is not destroyed or failed (a
failed cluster has given its resources back), and its nodes but those being removed.

`check` runs inside the transaction that registers a cluster or adds a resize's nodes,
after taking a per-user lock (SELECT ... FOR UPDATE on the user's row on PostgreSQL;
SQLite's IMMEDIATE transaction lets one writer in at a time anyway), so two launches at
once cannot both pass a quota they would exceed together. `shortfall` is the pure
arithmetic, with unit tests.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from peewee import SqliteDatabase, fn

from api.core import status as st
from api.core.errors import Invalid, QuotaExceeded
from api.core.models import Cluster, Node, NodeDisk, Quota, User, db
from api.core.status import NodeStatus

FIELDS = ("clusters", "nodes", "cpus", "memory", "disks")
UNITS = {"memory": " MB"}


@dataclass
class Amount:
    clusters: float = 0
    nodes: float = 0
    cpus: float = 0
    memory: float = 0
    disks: float = 0


def _fmt(value: float, what: str) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text + UNITS.get(what, "")


def shortfall(limits: dict, used: Amount, wanted: Amount) -> tuple[str, str] | None:
    """(field, message) of the first limit `wanted` on top of `used` exceeds; None if all fit."""
    for what in FIELDS:
        limit = limits.get(what)
        need = getattr(wanted, what)
        if limit is None or need <= 0:
            continue
        left = max(0, limit - getattr(used, what))
        if need > left + 1e-9:
            return what, (f"{what}: {_fmt(need, what)} requested, {_fmt(left, what)} of "
                          f"{_fmt(limit, what)} left")
    return None


def limits_of(user: User) -> tuple[dict, bool]:
    """The user's limits and whether they are the default's."""
    row = Quota.get_or_none(Quota.user == user.id)
    default = row is None
    if row is None:
        row = Quota.get_or_none(Quota.user.is_null())
    return ({f: getattr(row, f) for f in FIELDS} if row else dict.fromkeys(FIELDS)), default


def used_by(user: User) -> Amount:
    holding = Cluster.select(Cluster.id).where(
        (Cluster.user == user.id) & Cluster.status.not_in([st.DESTROYED, st.FAILED]))
    nodes = Node.select().where(Node.cluster.in_(holding) & (Node.status != NodeStatus.REMOVING))
    count, cpus, memory = (Node.select(fn.COUNT(Node.id), fn.COALESCE(fn.SUM(Node.cpu), 0),
                                       fn.COALESCE(fn.SUM(Node.mem), 0))
                           .where(Node.id.in_(nodes.select(Node.id))).scalar(as_tuple=True))
    disks = NodeDisk.select().where(NodeDisk.node.in_(nodes.select(Node.id))).count()
    return Amount(clusters=holding.count(), nodes=count, cpus=float(cpus), memory=memory, disks=disks)


def of_checked(checked, names: list[str] | None = None, clusters: int = 1) -> Amount:
    """What the rendered nodes `names` (default: all) of a document need."""
    chosen = [checked.nodes[n] for n in (names if names is not None else list(checked.nodes))]
    return Amount(clusters=clusters, nodes=len(chosen), cpus=sum(n.cpu for n in chosen),
                  memory=sum(n.mem for n in chosen), disks=sum(len(n.disks) for n in chosen))


def check(user: User, wanted: Amount) -> None:
    """QuotaExceeded (403, naming the limit) unless `wanted` fits; call inside the write
    transaction that takes it."""
    if not isinstance(db.obj, SqliteDatabase):
        User.select(User.id).where(User.id == user.id).for_update().execute()
    limits, _ = limits_of(user)
    if all(v is None for v in limits.values()):
        return
    short = shortfall(limits, used_by(user), wanted)
    if short:
        raise QuotaExceeded(short[1], field=short[0])


def view(user: User) -> dict:
    limits, default = limits_of(user)
    return {"user": user.name, "limits": limits, "use": asdict(used_by(user)), "default": default}


def parse(body) -> dict:
    """Limits from a PUT body: each field a number >= 0 or null (no limit)."""
    if not isinstance(body, dict):
        raise Invalid('a quota is an object, e.g. {"clusters": 2, "cpus": 8}', field="quota")
    for key in body:
        if key not in FIELDS:
            raise Invalid(f"unknown limit {key!r}; limits are {', '.join(FIELDS)}", field=key)
    out = {}
    for key in FIELDS:
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value < 0 or value > 1e9):
            raise Invalid(f"{key} must be a number from 0 up, or null for no limit", field=key)
        out[key] = value if key == "cpus" or value is None else int(value)
    return out


def put(user: User | None, body) -> None:
    """Set a user's limits (None: the default's)."""
    limits = parse(body)
    with db.atomic():
        if user is None:
            _put_default(limits)
        else:
            Quota.insert(user=user.id, **limits).on_conflict(
                conflict_target=[Quota.user], update=limits).execute()


def _put_default(limits: dict) -> None:
    # NULL never conflicts on a unique index: the default row is found, not upserted.
    if not Quota.update(**limits).where(Quota.user.is_null()).execute():
        Quota.create(user=None, **limits)

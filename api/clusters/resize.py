"""Resizing a cluster in the registry: the template rendered again with new options (the
same safe rendering as a launch), and the registry reshaped to match it, by node name.

`plan` is the check (a 400 naming the option when the product does not allow it);
`reshape` writes the outcome in one transaction: new nodes as rows with no host (the
framework places and starts them), leaving nodes `draining` (the product moves work off
them first) or `removing` (the framework removes them), services, options and document
as rendered. Reshaping back to the old options is the rollback: nodes that were to
leave are `running` again, nodes that were to come are `removing`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from api.catalog import day2
from api.catalog import options as opts
from api.clusters import quotas, registration
from api.core.errors import Conflict, Invalid
from api.core.models import Cluster, ClusterDocument, Host, Node, Product, Service, User, utcnow
from api.core.status import NodeStatus


@dataclass
class Plan:
    values: dict  # every option, as the cluster will have them
    doc: dict
    checked: object
    networks: dict
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def plan(cluster: Cluster, given, max_nodes: int, *, check_allowed: bool = True) -> Plan:
    """What resizing `cluster` with the option values `given` changes; Invalid (naming
    the option) when the product does not allow it or nothing would change."""
    product = Product.get_by_id(cluster.product_id)
    if not isinstance(given, dict) or not given:
        raise Invalid('options must be an object of the options to change, e.g. {"size": 5}',
                      field="options")
    declared = day2.of(product)["resize"]
    if check_allowed:
        if declared is None:
            raise Invalid(f"product {product.name} {product.version} does not support resize",
                          field=f"options.{next(iter(given))}")
        if not declared["scale_in"] and not declared["scale_out"]:
            raise Invalid(f"{product.name} {product.version} cannot be resized: {declared['reason']}",
                          field=f"options.{next(iter(given))}")
        for key in given:
            if key not in declared["options"]:
                raise Invalid(f"option {key!r} of {product.name} {product.version} cannot change on a "
                              f"running cluster; resizable: {', '.join(declared['options'])}",
                              field=f"options.{key}")
    try:
        values = opts.merge(product.options, {**(cluster.options or {}), **given})
    except Invalid as exc:  # named as the request has it: {"options": {"size": ...}}
        raise Invalid(exc.message, field=f"options.{exc.field}" if exc.field else "options") from None
    user = User.get_by_id(cluster.user_id)
    doc, checked, networks = registration.render(product, values, user, cluster.seq)
    registration.check_capacity(checked, max_nodes)
    current = [n.name for n in Node.select(Node.name).where(
        (Node.cluster == cluster.id) & (Node.status != NodeStatus.REMOVING)).order_by(Node.id)]
    # A node removed while its host was lost keeps its row until the host answers
    # (api/framework/changes.py): its name cannot come back before.
    leaving = _still_leaving(cluster.id)
    out = Plan(values, doc, checked, networks,
               added=[n for n in checked.nodes if n not in current and n not in leaving],
               removed=[n for n in current if n not in checked.nodes])
    back = [n for n in checked.nodes if n in leaving]
    if back and check_allowed:
        raise Conflict(f"node {back[0]} is still leaving the cluster ({leaving[back[0]]}); "
                       "resize again once it is gone", field=f"options.{next(iter(given))}")
    if check_allowed:
        if not out.added and not out.removed:
            raise Invalid(f"nothing to do: with {given} the cluster keeps the same nodes",
                          field=f"options.{next(iter(given))}")
        if out.added and not declared["scale_out"]:
            raise Invalid(f"{product.name} {product.version} cannot scale out: {declared['reason']}",
                          field=f"options.{next(iter(given))}")
        if out.removed and not declared["scale_in"]:
            raise Invalid(f"{product.name} {product.version} cannot scale in: {declared['reason']}",
                          field=f"options.{next(iter(given))}")
    return out


def _still_leaving(cluster_id: int) -> dict[str, str]:
    """Nodes being removed, by name, with why they are still there."""
    return {n.name: n.reason or "being removed" for n in Node.select(Node.name, Node.reason).where(
        (Node.cluster == cluster_id) & (Node.status == NodeStatus.REMOVING))}


def reshape(cluster: Cluster, p: Plan, drain: bool = True) -> Plan:
    """Make the registry what `p` rendered (see the module doc); returns `p`."""
    with registration.write_transaction():
        if p.added:
            quotas.check(User.get_by_id(cluster.user_id), quotas.of_checked(p.checked, p.added, clusters=0))
            registration.store_nodes(cluster.id, p.checked, p.added, p.networks)
        leaving = list(Node.select().where((Node.cluster == cluster.id) & Node.name.in_(p.removed)
                                           & (Node.status != NodeStatus.REMOVING)))
        for node in leaving:
            running = node.status in (NodeStatus.RUNNING, NodeStatus.DRAINING)
            Node.update(status=NodeStatus.DRAINING if drain and running else NodeStatus.REMOVING,
                        reason="leaving the cluster (resize)").where(Node.id == node.id).execute()
        # Nodes that were leaving and are wanted again (a rollback) stay: running, or
        # lost if their host was lost meanwhile (the host monitor marks only running ones).
        staying = ((Node.cluster == cluster.id) & (Node.status == NodeStatus.DRAINING)
                   & Node.name.in_(list(p.checked.nodes)))
        lost = Host.select(Host.id).where(Host.lost_since.is_null(False))
        Node.update(status=NodeStatus.LOST, reason="its host was lost while it was draining").where(
            staying & Node.host.in_(lost)).execute()
        Node.update(status=NodeStatus.RUNNING, reason="").where(staying).execute()
        Service.delete().where(Service.cluster == cluster.id).execute()
        registration.store_services(cluster.id, p.doc, p.checked)
        Cluster.update(options=p.values, updated=utcnow()).where(Cluster.id == cluster.id).execute()
        ClusterDocument.update(document=p.doc).where(ClusterDocument.cluster == cluster.id).execute()
    return p

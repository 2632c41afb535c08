"""Segments: the L2 slices of a network, one per tenant, so users' nodes never meet.

A `tenant` network's subnet is a pool: each user gets a segment of their own, a slice
of `segment_prefix` bits (a /16 pool in /24 slices: 255 tenants of 253 nodes; the
last slice is the pool's reservation on the platform's engine, see RESERVED). A
`shared` network is one segment for everyone: an admin's explicit opt-in.

How a segment is realised depends on where its nodes run (`kind`):
* ``bridge`` on the embedded local engine: one docker bridge per segment; docker keeps
  bridges apart, so tenants on one host do not reach each other;
* ``vxlan`` on registered hosts: one VXLAN network identifier (`vni`) per segment,
  a VXLAN device on every host holding its nodes carrying a docker macvlan network,
  and the platform's own endpoint on it (the gateway address);
* ``macvlan`` / ``overlay`` for the site networks an admin defines (driver macvlan on a
  `parent` every host has, or a Docker Swarm overlay): shared by nature.

Segments are taken in the placement transaction (unique indexes decide races) and a
tenant's is released when its last address goes.
"""
from __future__ import annotations

import ipaddress

from peewee import IntegrityError, fn

from api.core.models import Address, Host, Interface, Network, Node, Segment, db
from api.core.status import NodeStatus

TENANT, SHARED = "tenant", "shared"
ISOLATIONS = (TENANT, SHARED)
DRIVERS = ("bridge", "macvlan", "overlay")
BRIDGE, VXLAN, MACVLAN, OVERLAY = "bridge", "vxlan", "macvlan", "overlay"
RESERVED = "pool"  # the name of the docker network that marks a pool as taken


class NoSegment(RuntimeError):
    """The network has no free segment for another tenant."""


def slices(network: Network) -> int:
    """How many tenant segments the pool holds (the reserved last one excluded)."""
    pool = ipaddress.ip_network(network.subnet)
    count = 2 ** (network.segment_prefix - pool.prefixlen)
    return count - 1 if count >= 4 else count


def reserved_slice(network: Network) -> ipaddress.IPv4Network | None:
    """The pool's last slice, which marks the pool taken on the platform's engine."""
    pool = ipaddress.ip_network(network.subnet)
    count = 2 ** (network.segment_prefix - pool.prefixlen)
    return _slice(pool, network.segment_prefix, count - 1) if count >= 4 else None


def _slice(pool, prefix: int, index: int) -> ipaddress.IPv4Network:
    size = 2 ** (32 - prefix)
    return ipaddress.ip_network(f"{pool.network_address + index * size}/{prefix}")


def kind_for(network: Network, host: Host | None) -> str:
    if network.driver in (MACVLAN, OVERLAY):
        return network.driver
    return VXLAN if host is not None and host.url else BRIDGE


def owner_for(network: Network, user_id: int) -> int:
    return user_id if network.isolation == TENANT else 0


def name(segment: Segment) -> str:
    """The segment's part of its docker network's name ("" for a shared network's)."""
    return f"s{segment.index}" if segment.owner else ""


def take(network: Network, owner: int, kind: str, vni_from: int) -> Segment:
    """The owner's segment of the network for nodes of this kind, taken if missing
    (call inside the placement transaction). Raises NoSegment."""
    for _attempt in range(8):
        found = Segment.get_or_none((Segment.network == network) & (Segment.owner == owner)
                                    & (Segment.kind == kind))
        if found is not None:
            return found
        values = _next_free(network, owner, kind, vni_from)
        try:
            with db.atomic():  # a savepoint: a race undoes only this INSERT
                return Segment.create(network=network, owner=owner, kind=kind, **values)
        except IntegrityError:
            continue  # taken meanwhile by another placement: look again
    raise NoSegment(f"network {network.name}: could not take a segment (too many at once)")


def _next_free(network: Network, owner: int, kind: str, vni_from: int) -> dict:
    if owner == 0:
        index, subnet, gateway = 0, network.subnet, network.gateway
    else:
        taken = {i for (i,) in Segment.select(Segment.index).where(Segment.network == network).tuples()}
        free = [i for i in range(slices(network)) if i not in taken]
        if not free:
            raise NoSegment(f"network {network.name} has no free segment for another tenant "
                            f"({slices(network)} segments of /{network.segment_prefix} in {network.subnet})")
        index = free[0]
        net = _slice(ipaddress.ip_network(network.subnet), network.segment_prefix, index)
        subnet, gateway = str(net), str(net.network_address + 1)
    vni = None
    if kind == VXLAN:
        used = {v for (v,) in Segment.select(Segment.vni).where(Segment.vni.is_null(False)).tuples()}
        vni = next((v for v in range(vni_from, vni_from + 4096) if v not in used), None)
        if vni is None:
            raise NoSegment(f"no free VXLAN identifier left for network {network.name}")
    return {"index": index, "subnet": subnet, "gateway": gateway, "vni": vni}


def candidates(segment: Segment, network: Network):
    """Every address a node may get on the segment, in order (the gateway excluded)."""
    if segment.owner == 0:
        start = ipaddress.IPv4Address(network.range_start)
        end = ipaddress.IPv4Address(network.range_end)
    else:
        net = ipaddress.ip_network(segment.subnet)
        start, end = net.network_address + 2, net.broadcast_address - 1
    gateway = ipaddress.IPv4Address(segment.gateway)
    addr = start
    while addr <= end:
        if addr != gateway:
            yield str(addr)
        addr += 1


def of_interface(interface: Interface) -> Segment | None:
    """The segment an interface's address was taken from."""
    held = Address.get_or_none(Address.interface == interface)
    return held.segment if held is not None and held.segment_id is not None else None


def member_addresses(segment: Segment) -> list[str]:
    """Addresses of the registered hosts that hold nodes on the segment (VXLAN peers)."""
    rows = (Host.select(Host.address).distinct()
            .join(Node, on=(Node.host == Host.id))
            .join(Interface, on=(Interface.node == Node.id))
            .join(Address, on=(Address.interface == Interface.id))
            .where((Address.segment == segment) & (Host.url != "")
                   & Node.status.in_(NodeStatus.HOLDING)))
    return sorted(h.address for h in rows if h.address)


def release_empty() -> int:
    """Forget tenant segments no address is taken from any more; returns how many."""
    busy = Address.select(Address.segment).where(Address.segment.is_null(False))
    return Segment.delete().where((Segment.owner != 0) & Segment.id.not_in(busy)).execute()


def wanted_on_hosts() -> tuple[dict[str, set[tuple[str, str]]], set[int]]:
    """What must stay on each host: {host name: {(network, segment name)}} for every
    segment a holding node there uses, and every VNI in use anywhere."""
    rows = (Segment.select(Segment, Network.name.alias("net"), Host.name.alias("host"))
            .join(Network, on=(Segment.network == Network.id))
            .switch(Segment).join(Address, on=(Address.segment == Segment.id))
            .join(Interface, on=(Address.interface == Interface.id))
            .join(Node, on=(Interface.node == Node.id))
            .join(Host, on=(Node.host == Host.id))
            .where(Node.status.in_(NodeStatus.HOLDING)).distinct().objects())
    wanted: dict[str, set[tuple[str, str]]] = {}
    vnis = set()
    for row in rows:
        wanted.setdefault(row.host, set()).add((row.net, name(row)))
        if row.vni is not None:
            vnis.add(row.vni)
    return wanted, vnis


def tenants(network: Network) -> int:
    return Segment.select(fn.COUNT(Segment.id)).where(
        (Segment.network == network) & (Segment.owner != 0)).scalar() or 0


def owner_name(segment: Segment) -> str:
    from api.core.models import User
    user = User.get_or_none(User.id == segment.owner)
    return user.name if user else ""


def vxlan_members() -> dict[int, list[str]]:
    """{vni: addresses of the registered hosts holding its nodes} for every VXLAN segment."""
    out: dict[int, list[str]] = {}
    for segment in Segment.select().where(Segment.vni.is_null(False)):
        members = member_addresses(segment)
        if members:
            out[segment.vni] = members
    return out

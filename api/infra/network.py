"""The networks service: named address pools and atomic address allocation.

An address is taken by INSERTing an Address row; the unique (network, address) index
decides races between threads and processes, so there is never a "check, then write"
window. A clash simply moves on to the next address.
"""
from __future__ import annotations

import ipaddress

from peewee import IntegrityError, SqliteDatabase

from api.core.auth import sees_cluster
from api.core.errors import Conflict, Invalid
from api.core.models import Address, Cluster, Interface, Network, Node, Segment, db
from api.infra import segments

DEFAULT_NETWORKS = (
    ("admin", "Administration network: SSH and control traffic", "admin_subnet"),
    ("storage", "Storage network: data traffic between nodes", "storage_subnet"),
)
# Where fresh installs look for free /24s: 10.30.0.0/24, 10.31.0.0/24, ... then 10.30.1.0/24 ...
_CANDIDATE_SECOND_OCTETS = range(30, 255)


class NetworkError(Invalid):
    """Invalid network definition; `field` names the input at fault."""


class NetworkFull(RuntimeError):
    interface = None  # the interface that found no address (allocate_all)


def write_transaction():
    """A transaction that takes the write lock at once on SQLite. A deferred one that
    reads and then writes fails with 'database is locked' when another writer got in
    between; IMMEDIATE waits its turn (busy_timeout) instead."""
    if isinstance(db.obj, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


# ------------------------------------------------------------------------ definitions

def validate(name, subnet, gateway=None, range_start=None, range_end=None,
             description="", driver="bridge", isolation=segments.SHARED, segment_prefix=None,
             parent="") -> dict:
    """Check a network definition; fill gateway (first host) and range (the rest), and
    for a tenant network the size of each tenant's segment (default /24, or a quarter
    of a smaller pool)."""
    if not isinstance(name, str) or not name or not name.replace("-", "").replace("_", "").isalnum() \
            or len(name) > 40:
        raise NetworkError("name must be 1-40 letters, digits, '-' or '_'", "name")
    if not isinstance(description, str):
        raise NetworkError("description must be a string", "description")
    try:
        net = ipaddress.IPv4Network(str(subnet), strict=True)
    except (ValueError, TypeError) as exc:
        raise NetworkError(f"subnet {subnet!r} is not an IPv4 network in CIDR form ({exc})",
                           "subnet") from None
    if net.num_addresses < 4:
        raise NetworkError("subnet must have room for a gateway and addresses (/30 or larger)",
                           "subnet")
    hosts = list(_hosts(net, limit=2))
    if driver == "overlay" and not range_start:
        # Docker Swarm hands out addresses of its own on an overlay (a load balancer's on
        # every host): they get the first quarter, the registry's nodes the rest.
        hosts[1] = overlay_swarm_range(net).broadcast_address + 1
    values = {"gateway": gateway or str(hosts[0]),
              "range_start": range_start or str(hosts[1]),
              "range_end": range_end or str(net.broadcast_address - 1)}
    parsed = {}
    for field, value in values.items():
        try:
            addr = ipaddress.IPv4Address(str(value))
        except (ValueError, TypeError):
            raise NetworkError(f"{field} {value!r} is not an IPv4 address", field) from None
        if addr not in net or addr in (net.network_address, net.broadcast_address):
            raise NetworkError(f"{field} {addr} is not a host address of {net}", field)
        parsed[field] = addr
    if parsed["range_start"] > parsed["range_end"]:
        raise NetworkError("range_start must not come after range_end", "range_start")
    layout = _layout(net, driver, isolation, segment_prefix, parent)
    return {"name": name, "description": description, "subnet": str(net),
            **{k: str(v) for k, v in parsed.items()}, **layout}


def _layout(net, driver, isolation, segment_prefix, parent) -> dict:
    """driver, isolation, segment_prefix and parent, checked against each other."""
    if driver not in segments.DRIVERS:
        raise NetworkError(f"driver must be one of {', '.join(segments.DRIVERS)}", "driver")
    if isolation not in segments.ISOLATIONS:
        raise NetworkError("isolation must be \"tenant\" (each user a segment of their own) "
                           "or \"shared\" (one segment for everyone)", "isolation")
    if driver == "macvlan" and (not isinstance(parent, str) or not parent.replace("-", "").replace(
            ".", "").replace("_", "").isalnum() or len(parent) > 15):
        raise NetworkError("a macvlan network needs parent: the interface every host has on "
                           "the site network, e.g. eth1", "parent")
    if driver != "macvlan" and parent:
        raise NetworkError("parent is for macvlan networks", "parent")
    if driver != "bridge" and isolation == segments.TENANT:
        raise NetworkError(f"a {driver} network is a site network every tenant shares: give "
                           "isolation \"shared\" (tenant segments are bridge networks')", "isolation")
    prefix = 0
    if isolation == segments.TENANT:
        prefix = segment_prefix if segment_prefix is not None else max(24, net.prefixlen + 2)
        if isinstance(prefix, bool) or not isinstance(prefix, int) or not net.prefixlen < prefix <= 29:
            raise NetworkError(f"segment_prefix must be a prefix length after /{net.prefixlen}, "
                               "at most /29", "segment_prefix")
        if 2 ** (prefix - net.prefixlen) < 2:
            raise NetworkError(f"subnet {net} is too small to give each tenant a segment: use a "
                               "larger subnet or isolation \"shared\"", "subnet")
    elif segment_prefix not in (None, 0):
        raise NetworkError("segment_prefix is for tenant networks", "segment_prefix")
    return {"driver": driver, "isolation": isolation, "segment_prefix": prefix, "parent": parent or ""}


def overlay_swarm_range(net) -> ipaddress.IPv4Network:
    """The part of an overlay's subnet left to Docker Swarm's own addresses."""
    return next(net.subnets(prefixlen_diff=2))


def _hosts(net, limit=None):
    count = 0
    for addr in net.hosts():
        yield addr
        count += 1
        if limit and count >= limit:
            return


def create_network(**fields) -> Network:
    values = validate(**fields)
    try:
        with db.atomic():
            return Network.create(**values)
    except IntegrityError:
        raise Conflict(f"network {values['name']} already exists", "name") from None


def _overlaps(subnet: str, taken: list[str]) -> bool:
    net = ipaddress.ip_network(subnet)
    for other in taken:
        try:
            if net.overlaps(ipaddress.ip_network(other, strict=False)):
                return True
        except ValueError:
            continue
    return False


def ensure_defaults(settings, used_subnets: list[str] | None = None,
                    isolation: str = segments.SHARED) -> list[Network]:
    """Create the `admin` and `storage` networks if missing (a fresh install).

    Subnets come from BDP_ADMIN_SUBNET / BDP_STORAGE_SUBNET, else the first free ones
    from 10.30.0.0 on that overlap neither `used_subnets` (the engine's networks, e.g.
    another platform on the same Docker Engine) nor networks already defined: /16 pools
    of /24 tenant segments with `isolation` tenant (the docker engine's), else /24s.
    """
    created = []
    size = 16 if isolation == segments.TENANT else 24
    for name, description, setting in DEFAULT_NETWORKS:
        if Network.get_or_none(Network.name == name):
            continue
        taken = [n.subnet for n in Network.select()] + list(used_subnets or [])
        subnet = getattr(settings, setting, "") or _free_subnet(taken, size)
        try:
            created.append(create_network(name=name, description=description, subnet=subnet,
                                          isolation=isolation))
        except (NetworkError, Conflict):
            if not Network.get_or_none(Network.name == name):  # not a lost race: a bad setting
                raise
    return created


def _free_subnet(taken: list[str], size: int = 24) -> str:
    for third in range(256 if size == 24 else 1):
        for second in _CANDIDATE_SECOND_OCTETS:
            subnet = f"10.{second}.{third}.0/{size}"
            if not _overlaps(subnet, taken):
                return subnet
    raise NetworkError(f"no free /{size} left in 10.30.0.0-10.254.255.0", "subnet")


# ------------------------------------------------------------------------ allocation

def candidates(network: Network):
    """Every assignable address of a shared network, in order (the gateway excluded)."""
    start = ipaddress.IPv4Address(network.range_start)
    end = ipaddress.IPv4Address(network.range_end)
    gateway = ipaddress.IPv4Address(network.gateway)
    addr = start
    while addr <= end:
        if addr != gateway:
            yield str(addr)
        addr += 1


def allocate(interface: Interface, kind: str | None = None, vni_from: int = 0) -> str:
    """Give the interface an address on its network (idempotent): from its tenant's
    segment on a tenant network (taken if the tenant has none yet), for nodes of `kind`
    (default: as the node's host says). Raises NetworkFull."""
    held = Address.get_or_none(Address.interface == interface)
    if held is not None:
        if interface.address != held.address:
            Interface.update(address=held.address).where(Interface.id == interface.id).execute()
            interface.address = held.address
        return held.address
    network = interface.network
    node = interface.node
    kind = kind or segments.kind_for(network, node.host if node.host_id else None)
    try:
        segment = segments.take(network, segments.owner_for(network, node.cluster.user_id), kind,
                                vni_from)
    except segments.NoSegment as exc:
        raise NetworkFull(str(exc)) from None
    used = {a for (a,) in Address.select(Address.address).where(Address.network == network).tuples()}
    return _take(interface, network, segment, used)


def allocate_all(items: list[tuple[Interface, str]], user_id: int, vni_from: int = 0) -> None:
    """allocate() for many interfaces of one cluster (its owner `user_id`), each with its
    kind of host, in device order: what one placement needs, in a few queries rather than
    a dozen per interface. Raises NetworkFull naming the interface's node and device."""
    taken_by: dict[int, str] = dict(Address.select(Address.interface, Address.address).where(
        Address.interface.in_([i.id for i, _ in items])).tuples()) if items else {}
    found: dict[tuple, Segment] = {}
    used: dict[int, set[str]] = {}
    for iface, kind in items:
        if iface.id in taken_by:
            continue
        net = iface.network
        key = (net.id, segments.owner_for(net, user_id), kind)
        try:
            segment = found.get(key) or found.setdefault(key, segments.take(net, key[1], kind, vni_from))
        except segments.NoSegment as exc:
            full = NetworkFull(str(exc))
            full.interface = iface
            raise full from None
        if net.id not in used:
            used[net.id] = {a for (a,) in Address.select(Address.address)
                            .where(Address.network == net).tuples()}
        try:
            _take(iface, net, segment, used[net.id])
        except NetworkFull as exc:
            exc.interface = iface
            raise


def _take(iface: Interface, net: Network, segment: Segment, used: set[str]) -> str:
    for address in segments.candidates(segment, net):
        if address in used:
            continue
        try:
            with db.atomic():  # a savepoint: a clash undoes only this INSERT
                Address.create(network=net, address=address, interface=iface, segment=segment)
        except IntegrityError:
            used.add(address)  # taken by someone else meanwhile: try the next one
            continue
        used.add(address)
        Interface.update(address=address).where(Interface.id == iface.id).execute()
        iface.address = address
        return address
    where = f"segment {segment.subnet}" if segment.owner else f"range {net.range_start}-{net.range_end}"
    raise NetworkFull(f"network {net.name} has no free address ({where})")


def release_nodes(node_ids: list[int]) -> int:
    """Free every address these nodes' interfaces hold, and tenant segments left empty;
    returns how many addresses."""
    ids = [i.id for i in Interface.select(Interface.id).where(Interface.node.in_(node_ids))] \
        if node_ids else []
    if not ids:
        return 0
    freed = Address.delete().where(Address.interface.in_(ids)).execute()
    Interface.update(address=None).where(Interface.id.in_(ids)).execute()
    segments.release_empty()
    return freed


def release_cluster(cluster_id: int) -> int:
    """Free every address the cluster's interfaces hold; returns how many."""
    return release_nodes([n.id for n in Node.select(Node.id).where(Node.cluster == cluster_id)])


# ------------------------------------------------------------------------ views

def network_view(network: Network) -> dict:
    """A network: its subnet (a pool of tenant segments, or one shared range), its
    driver, and how many addresses (and segments) are used and free."""
    used = Address.select().where(Address.network == network).count()
    out = {"name": network.name, "description": network.description,
           "subnet": network.subnet, "gateway": network.gateway,
           "range_start": network.range_start, "range_end": network.range_end,
           "driver": network.driver, "isolation": network.isolation}
    if network.driver == "macvlan":
        out["parent"] = network.parent
    if network.isolation == segments.TENANT:
        count, taken = segments.slices(network), segments.tenants(network)
        total = count * (2 ** (32 - network.segment_prefix) - 3)  # network, broadcast, gateway
        out["segment_prefix"] = network.segment_prefix
        out["segments"] = {"total": count, "used": taken, "free": count - taken}
    else:
        total = sum(1 for _ in candidates(network))
    return {**out, "total": total, "used": used, "free": total - used}


def _listed(network: Network, after: int | None = None):
    """The addresses a listing walks, in address order: a shared network's range, or the
    segments taken; only those after `after` (an address as an integer) when given."""
    if network.isolation != segments.TENANT:
        walk = candidates(network)
    else:
        walk = (address for segment in Segment.select().where(Segment.network == network)
                .order_by(Segment.index)
                if after is None or int(ipaddress.ip_network(segment.subnet).broadcast_address) > after
                for address in segments.candidates(segment, network))
    for address in walk:
        if after is None or int(ipaddress.IPv4Address(address)) > after:
            yield address


def addresses(network: Network, which: str = "full", viewer=None, after: int | None = None):
    """The network's addresses, in order: `used` (with owner), `free`, or `full` (both,
    with state); after `after` (an address as an integer: where a page ended) when
    given. Owners are named only to whoever may see their cluster (`viewer`; None =
    everyone). A generator: a page reads only as far as it needs."""
    owners = {}
    query = (Address.select(Address, Interface, Node, Cluster)
             .join(Interface, on=(Address.interface == Interface.id))
             .join(Node, on=(Interface.node == Node.id))
             .join(Cluster, on=(Node.cluster == Cluster.id))
             .where(Address.network == network))
    for row in query:
        node = row.interface.node
        owners[row.address] = {"cluster": node.cluster.dn, "node": node.name,
                               "device": row.interface.device}
    # Addresses whose owner row is gone still count as used.
    for row in Address.select(Address.address).where(Address.network == network):
        owners.setdefault(row.address, {})
    for address in _listed(network, after):
        owner = owners.get(address)
        if which == "used" and owner is None or which == "free" and owner is not None:
            continue
        entry = {"address": address, "status": "used" if owner is not None else "free"}
        if owner and (viewer is None or sees_cluster(viewer, owner["cluster"])):
            entry.update(owner)
        yield entry

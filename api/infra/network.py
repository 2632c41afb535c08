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
from api.core.models import Address, Cluster, Interface, Network, Node, db

DEFAULT_NETWORKS = (
    ("admin", "Administration network: SSH and control traffic", "admin_subnet"),
    ("storage", "Storage network: data traffic between nodes", "storage_subnet"),
)
# Where fresh installs look for free /24s: 10.30.0.0/24, 10.31.0.0/24, ... then 10.30.1.0/24 ...
_CANDIDATE_SECOND_OCTETS = range(30, 255)


class NetworkError(Invalid):
    """Invalid network definition; `field` names the input at fault."""


class NetworkFull(RuntimeError):
    pass


def write_transaction():
    """A transaction that takes the write lock at once on SQLite. A deferred one that
    reads and then writes fails with 'database is locked' when another writer got in
    between; IMMEDIATE waits its turn (busy_timeout) instead."""
    if isinstance(db.obj, SqliteDatabase):
        return db.atomic("IMMEDIATE")
    return db.atomic()


# ------------------------------------------------------------------------ definitions

def validate(name, subnet, gateway=None, range_start=None, range_end=None,
             description="") -> dict:
    """Check a network definition; fill gateway (first host) and range (the rest)."""
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
    return {"name": name, "description": description, "subnet": str(net),
            **{k: str(v) for k, v in parsed.items()}}


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


def ensure_defaults(settings, used_subnets: list[str] | None = None) -> list[Network]:
    """Create the `admin` and `storage` networks if missing (a fresh install).

    Subnets come from BDP_ADMIN_SUBNET / BDP_STORAGE_SUBNET, else the first free /24s
    from 10.30.0.0/24 on that overlap neither `used_subnets` (the engine's networks,
    e.g. another platform on the same Docker Engine) nor networks already defined.
    """
    created = []
    for name, description, setting in DEFAULT_NETWORKS:
        if Network.get_or_none(Network.name == name):
            continue
        taken = [n.subnet for n in Network.select()] + list(used_subnets or [])
        subnet = getattr(settings, setting, "") or _free_subnet(taken)
        try:
            created.append(create_network(name=name, description=description, subnet=subnet))
        except (NetworkError, Conflict):
            if not Network.get_or_none(Network.name == name):  # not a lost race: a bad setting
                raise
    return created


def _free_subnet(taken: list[str]) -> str:
    for third in range(256):
        for second in _CANDIDATE_SECOND_OCTETS:
            subnet = f"10.{second}.{third}.0/24"
            if not _overlaps(subnet, taken):
                return subnet
    raise NetworkError("no free /24 left in 10.30.0.0-10.254.255.0", "subnet")


# ------------------------------------------------------------------------ allocation

def candidates(network: Network):
    """Every assignable address of a network, in order (the gateway excluded)."""
    start = ipaddress.IPv4Address(network.range_start)
    end = ipaddress.IPv4Address(network.range_end)
    gateway = ipaddress.IPv4Address(network.gateway)
    addr = start
    while addr <= end:
        if addr != gateway:
            yield str(addr)
        addr += 1


def allocate(interface: Interface) -> str:
    """Give the interface an address on its network (idempotent). Raises NetworkFull."""
    held = Address.get_or_none(Address.interface == interface)
    if held is not None:
        if interface.address != held.address:
            Interface.update(address=held.address).where(Interface.id == interface.id).execute()
            interface.address = held.address
        return held.address
    network = interface.network
    used = {a.address for a in Address.select(Address.address).where(Address.network == network)}
    for address in candidates(network):
        if address in used:
            continue
        try:
            with db.atomic():  # a savepoint: a clash undoes only this INSERT
                Address.create(network=network, address=address, interface=interface)
        except IntegrityError:
            continue  # taken by someone else meanwhile: try the next one
        Interface.update(address=address).where(Interface.id == interface.id).execute()
        interface.address = address
        return address
    raise NetworkFull(f"network {network.name} has no free address "
                      f"(range {network.range_start}-{network.range_end})")


def release_cluster(cluster_id: int) -> int:
    """Free every address the cluster's interfaces hold; returns how many."""
    interfaces = (Interface.select(Interface.id).join(Node)
                  .where(Node.cluster == cluster_id))
    ids = [i.id for i in interfaces]
    if not ids:
        return 0
    freed = Address.delete().where(Address.interface.in_(ids)).execute()
    Interface.update(address=None).where(Interface.id.in_(ids)).execute()
    return freed


# ------------------------------------------------------------------------ views

def network_view(network: Network) -> dict:
    total = sum(1 for _ in candidates(network))
    used = Address.select().where(Address.network == network).count()
    return {"name": network.name, "description": network.description,
            "subnet": network.subnet, "gateway": network.gateway,
            "range_start": network.range_start, "range_end": network.range_end,
            "total": total, "used": used, "free": total - used}


def addresses(network: Network, which: str = "full", viewer=None) -> list[dict]:
    """The network's addresses: `used` (with owner), `free`, or `full` (both, with state).
    Owners are named only to whoever may see their cluster (`viewer`; None = everyone)."""
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
    out = []
    for address in candidates(network):
        owner = owners.get(address)
        if which == "used" and owner is None or which == "free" and owner is not None:
            continue
        entry = {"address": address, "status": "used" if owner is not None else "free"}
        if owner and (viewer is None or sees_cluster(viewer, owner["cluster"])):
            entry.update(owner)
        out.append(entry)
    return out

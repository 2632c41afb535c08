"""The docker engine's networks: the docker network each node interface joins, made on
the node's host when first needed.

A registry network (or one tenant's segment of it, see api/infra/segments.py) is one
docker network per host, named ``bdp-<network>[-s<segment>]-<platform suffix>`` and
labelled with the platform, so two platforms sharing an engine never clash. How it is
made depends on the interface's `driver` (see InterfaceSpec):

* ``bridge``: a user-defined bridge on that host. Docker keeps bridges apart from each
  other, so on one host every tenant's segment is isolated from the others'.
* ``vxlan``: a segment spanning hosts: a VXLAN device per host (api/engines/vxlan.py)
  carrying a docker macvlan network with the segment's subnet; the platform host joins
  it with a macvlan shim holding the gateway address.
* ``macvlan``: a site network an admin opted into: docker macvlan on `parent`, which
  every host has.
* ``overlay``: a Docker Swarm attachable overlay, created once on a swarm manager.

Addresses always come from the registry, unique across hosts: docker does not stop two
hosts' macvlan networks from handing out one address twice.
"""
from __future__ import annotations

import ipaddress
import threading
import time

import docker
from docker.errors import APIError, NotFound

from api.engines.base import LABEL_PLATFORM, InterfaceSpec, SubnetTaken

LABEL_NETWORK = "org.bdp.network"
LABEL_POOL = "org.bdp.pool"  # the registry network's whole subnet, so others avoid it
LABEL_SEGMENT = "org.bdp.segment"  # a tenant's (or a vxlan) segment: removed once unused
LABEL_VNI = "org.bdp.vni"
# Seconds a segment made or asked for is safe from removal: the survey's idea of what is
# in use is a snapshot, and a cluster being placed right then is not in it yet.
GRACE = 20.0


class NetworkError(RuntimeError):
    pass


class PoolOverlaps(NetworkError, SubnetTaken):
    """Docker refused a network: "Pool overlaps with other one on this address space"."""


class HostNetworks:
    """Docker networks on each host, created on first use and remembered."""

    def __init__(self, platform_label: str, suffix: str):
        self.platform_label = platform_label
        self.suffix = suffix
        self._lock = threading.Lock()
        self._seen: set[tuple[str, str]] = set()  # (host, docker network) known to exist
        self.touched: dict[tuple[str, str], float] = {}  # when a node last asked for one

    def recent(self, host: str, name: str) -> bool:
        """Asked for within GRACE seconds: a launch under way may not have attached yet."""
        return time.monotonic() - self.touched.get((host, name), -GRACE) < GRACE

    def name(self, network: str, segment: str = "") -> str:
        return f"bdp-{network}{'-' + segment if segment else ''}-{self.suffix}"

    def forget(self, host: str | None = None) -> None:
        with self._lock:
            self._seen = {s for s in self._seen if host is not None and s[0] != host}

    def ensure(self, client, host: str, iface: InterfaceSpec) -> str:
        """The docker network for `iface` on `host` (client), created if missing."""
        name = self.name(iface.network, iface.segment)
        self.touched[(host, name)] = time.monotonic()
        if (host, name) in self._seen:
            return name
        with self._lock:
            found = [n for n in client.api.networks(names=[name]) if n["Name"] == name]
            if found:
                pools = (found[0].get("IPAM") or {}).get("Config") or []
                if pools and pools[0].get("Subnet") != iface.subnet:
                    raise NetworkError(f"docker network {name} on host {host} has subnet "
                                       f"{pools[0].get('Subnet')}, the registry says {iface.subnet}")
            else:
                self._create(client, host, name, iface)
            self._seen.add((host, name))
        return name

    def _create(self, client, host: str, name: str, iface: InterfaceSpec) -> None:
        iprange = None
        if iface.driver == "overlay":  # swarm's own addresses: the first quarter (see
            # api/infra/network.overlay_swarm_range), the registry's nodes the rest
            iprange = str(next(ipaddress.ip_network(iface.subnet).subnets(prefixlen_diff=2)))
        ipam = docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet=iface.subnet, gateway=iface.gateway, iprange=iprange)])
        labels = {LABEL_PLATFORM: self.platform_label, LABEL_NETWORK: iface.network}
        if iface.pool:
            labels[LABEL_POOL] = iface.pool
        if iface.segment or iface.driver in ("vxlan", "macvlan", "overlay"):  # removed when unused
            labels[LABEL_SEGMENT] = iface.segment
        if iface.driver == "vxlan":
            labels[LABEL_VNI] = str(iface.vni)
        options, driver = {}, "bridge"
        if iface.driver in ("vxlan", "macvlan"):
            driver, options = "macvlan", {"parent": iface.parent}
        elif iface.driver == "overlay":
            driver = "overlay"
        try:
            client.api.create_network(name, driver=driver, ipam=ipam, options=options or None,
                                      check_duplicate=True, labels=labels,
                                      attachable=driver == "overlay" or None)
        except APIError as exc:
            why = exc.explanation or str(exc)
            error = PoolOverlaps if "overlaps" in why else NetworkError
            raise error(f"cannot create docker network {name} ({iface.subnet}) for "
                        f"network {iface.network} on host {host}: {why}") from None

    def remove(self, client, host: str, name: str) -> bool:
        """Remove one docker network of this platform from a host; False if in use."""
        with self._lock:
            self._seen.discard((host, name))
        try:
            client.api.remove_network(name)
        except NotFound:
            pass
        except APIError as exc:
            if exc.status_code == 403 or "active endpoints" in str(exc.explanation):
                return False
            raise
        return True

    def ours(self, client) -> list[dict]:
        return client.api.networks(filters={"label": f"{LABEL_PLATFORM}={self.platform_label}"})


def used_subnets(client) -> list[str]:
    """Subnets of every docker network on an engine (any owner), and the whole pools
    other platforms labelled theirs with."""
    subnets = []
    for net in client.api.networks():
        for pool in (net.get("IPAM") or {}).get("Config") or []:
            if pool.get("Subnet"):
                subnets.append(pool["Subnet"])
        if (net.get("Labels") or {}).get(LABEL_POOL):
            subnets.append(net["Labels"][LABEL_POOL])
    return subnets

"""VXLAN segments on registered hosts, for the docker engine (a mixin of DockerEngine).

Before a node's container joins a `vxlan` segment, `prepare_segment` makes sure the
segment's VXLAN device exists with the right peers on every host holding its nodes and
on the platform host (vxlan.py says how), so the docker macvlan network can hang off it.
`converge_segments` is the level-triggered side, run by the framework's survey: on each
host that answers, docker networks and VXLAN devices no holding node uses any more go
(a destroyed cluster, a host back after being lost), missing peers are added, and the
platform host keeps only the segments still in use. What was set up is remembered, so a
steady state costs one listing per host and no exec. Changes on a host are execs in the
platform's network agent there (docker_helper.agent_exec), kept while the host is
registered (removing the host removes it).
"""
from __future__ import annotations

import logging
import threading
import time

from api.engines import vxlan
from api.engines.base import LABEL_PLATFORM
from api.engines.docker_hosts import Endpoint
from api.engines.docker_networks import GRACE, LABEL_NETWORK, LABEL_SEGMENT

log = logging.getLogger("bdp.engine.docker")
RESERVED = "pool"  # the docker network marking a tenant pool as taken: never removed


class SegmentsMixin:
    """Expects `settings`, `pool`, `networks`, `client`, `registered()`, `_agent`."""

    def _segments_init(self) -> None:
        self._vx_lock = threading.Lock()
        self._vx_hosts: dict[tuple[str, int], frozenset] = {}  # (host, vni) -> peers set up
        self._vx_local: dict[int, frozenset] = {}
        self._vx_key_locks: dict[tuple[str, int], threading.Lock] = {}
        self._vx_listed: set[str] = set()  # hosts whose VXLAN devices were listed once
        self._vx_touched: dict[tuple[str, int], float] = {}  # (host or "", vni) -> last asked
        self._vteps: dict[str, str] = {}

    def vtep(self, towards: str) -> str:
        """The platform host's address towards a host (BDP_VTEP_ADDRESS, else the route's)."""
        if self.settings.vtep_address:
            return self.settings.vtep_address
        if towards not in self._vteps:
            self._vteps[towards] = vxlan.route_source(towards)
        return self._vteps[towards]

    def prepare_segment(self, host: str | None, iface) -> None:
        """For a vxlan interface: the device on every member host and the platform's end."""
        if iface.driver != "vxlan":
            return
        iface.parent = vxlan.device(iface.vni)
        members = {ep.address: ep for ep in self.registered()
                   if ep.address in set(iface.peers) or ep.name == host}
        if not members:
            raise vxlan.VxlanError(f"segment {iface.subnet}: host {host} has no address for VXLAN")
        local = self.vtep(next(iter(members)))
        everyone = set(members) | {local}
        self._ensure_local(iface.vni, local, everyone, iface.gateway, iface.subnet)
        todo = [ep for addr, ep in members.items() if ep.name == host or self.pool.silent(ep.name) is None]
        results = self.pool.each(todo, lambda ep: self._ensure_on(ep, iface.vni, everyone), timeout=120)
        failed = {name: exc for name, exc in results.items() if isinstance(exc, Exception)}
        if host in failed:
            raise failed[host]
        for name, exc in failed.items():  # a peer that does not answer catches up when back
            log.warning("segment %s on host %s: %s", iface.vni, name, exc)

    def prepare_nodes(self, specs) -> None:
        """Before a cluster's nodes start: every vxlan segment they use, on every member
        host at once, one exec per host for all of them (instead of one per segment)."""
        wanted: dict[int, tuple] = {}
        for spec in specs:
            for iface in spec.interfaces:
                if iface.driver == "vxlan":
                    wanted.setdefault(iface.vni, (iface, set()))[1].add(spec.host)
        if not wanted:
            return
        endpoints = {ep.name: ep for ep in self.registered()}
        by_address = {ep.address: ep for ep in endpoints.values() if ep.address}
        jobs: dict[str, list[tuple[int, set]]] = {}
        for vni, (iface, hosts) in wanted.items():
            members = set(iface.peers) | {endpoints[h].address for h in hosts if h in endpoints}
            members.discard("")
            if not members:
                continue
            everyone = members | {self.vtep(next(iter(members)))}
            self._ensure_local(vni, self.vtep(next(iter(members))), everyone, iface.gateway, iface.subnet)
            for address in members:
                ep = by_address.get(address)
                if ep is not None:
                    self._vx_touched[(ep.name, vni)] = time.monotonic()
                if ep is not None and self._vx_hosts.get((ep.name, vni)) != frozenset(everyone):
                    jobs.setdefault(ep.name, []).append((vni, everyone))

        def run(ep):
            script = "\n".join(vxlan.host_script(vni, ep.address, sorted(everyone))
                                for vni, everyone in jobs[ep.name])
            self._agent(ep, script, purpose=f"VXLAN segments on {ep.name}")
            for vni, everyone in jobs[ep.name]:
                self._vx_hosts[(ep.name, vni)] = frozenset(everyone)
        todo = [endpoints[name] for name in jobs if self.pool.silent(name) is None]
        for name, result in self.pool.each(todo, run, timeout=120).items():
            if isinstance(result, Exception):  # each node's own preparation says it again
                log.warning("VXLAN segments on host %s: %s", name, result)

    def _ensure_local(self, vni: int, local: str, everyone: set[str], gateway: str, subnet: str) -> None:
        self._vx_touched[("", vni)] = time.monotonic()
        with self._vx_lock:
            if self._vx_local.get(vni) == frozenset(everyone):
                return
            vxlan.ensure_local(vni, local, sorted(everyone), gateway, subnet)
            self._vx_local[vni] = frozenset(everyone)

    def _ensure_on(self, ep: Endpoint, vni: int, everyone: set[str], touch: bool = True) -> None:
        key = (ep.name, vni)
        if touch:
            self._vx_touched[key] = time.monotonic()
        with self._vx_lock:  # nodes of one segment start at once: one exec per host
            lock = self._vx_key_locks.setdefault(key, threading.Lock())
        with lock:
            if self._vx_hosts.get(key) == frozenset(everyone):
                return
            self._agent(ep, vxlan.host_script(vni, ep.address, sorted(everyone)),
                        purpose=f"VXLAN {vni} on {ep.name}")
            self._vx_hosts[key] = frozenset(everyone)

    def converge_segments(self, wanted: dict[str, set[tuple[str, str]]], vnis: set[int],
                          peers: dict[int, list[str]] | None = None) -> int:
        """Remove segment networks and devices nothing uses; returns how many went.
        `wanted`: {host: {(network, segment name)}} to keep; `vnis`: VNIs in use anywhere;
        `peers`: {vni: member host addresses} to keep every member's FDB complete."""
        removed = 0
        endpoints = [e for e in self.registered() if self.pool.silent(e.name) is None]
        endpoints.append(Endpoint.of("", "", None))  # the embedded engine's tenant bridges

        def converge(e):
            return self._converge_host(e, wanted.get(e.name or self._local_name(), set()), peers or {})
        for name, result in self.pool.each(endpoints, converge, timeout=120).items():
            if isinstance(result, Exception):
                log.warning("segments on host %s: %s", name, result)
            else:
                removed += result
        low = self.settings.vni_base
        high = low + self.settings.VNI_SPAN
        for vni in vxlan.local_vnis(low, high) - vnis:
            if self._recent(("", vni)):
                continue
            vxlan.remove_local(vni)
            self._vx_local.pop(vni, None)
            removed += 1
        return removed

    def _converge_host(self, ep: Endpoint, keep: set[tuple[str, str]], peers: dict) -> int:
        client = self.client if ep.embedded else self.pool.client(ep)
        removed = 0
        for net in client.api.networks(filters={"label": f"{LABEL_PLATFORM}={self.platform_label}"}):
            labels = net.get("Labels") or {}
            segment = labels.get(LABEL_SEGMENT)
            if segment in (None, RESERVED) or (labels.get(LABEL_NETWORK), segment) in keep \
                    or self.networks.recent(ep.name or self._local_name(), net["Name"]):
                continue
            try:
                removed += self.networks.remove(client, ep.name or self._local_name(), net["Name"])
            except Exception as exc:  # e.g. a swarm network a worker cannot remove
                log.warning("host %s: cannot remove docker network %s: %s", ep.name, net["Name"], exc)
        if ep.embedded or not ep.address:
            return removed
        # VXLAN devices: those of segments with no holding node here go, whether or not
        # their docker network is still listed (what this process set up, and on the
        # first pass after a start or a return, what the host itself lists).
        here = {vni for vni, members in peers.items() if ep.address in members}
        known = {vni for (host, vni) in list(self._vx_hosts) if host == ep.name}
        if ep.name not in self._vx_listed:
            low = self.settings.vni_base
            listed = self._agent(ep, "ip -o link show type vxlan", purpose=f"listing VXLAN on {ep.name}")
            known |= {v for v in vxlan.vnis_in(listed) if low <= v < low + self.settings.VNI_SPAN}
            self._vx_listed.add(ep.name)
        gone = sorted(v for v in known - here if not self._recent((ep.name, v)))
        if gone:
            self._agent(ep, vxlan.remove_script(gone), purpose=f"removing VXLAN devices on {ep.name}")
            for vni in gone:
                self._vx_hosts.pop((ep.name, vni), None)
            removed += len(gone)
        for vni in here:  # completing FDBs is not a use: it must not hold devices back
            self._ensure_on(ep, vni, set(peers[vni]) | {self.vtep(ep.address)}, touch=False)
        return removed

    def _recent(self, key: tuple[str, int]) -> bool:
        return time.monotonic() - self._vx_touched.get(key, -GRACE) < GRACE

    def forget_segments(self, host: str) -> None:
        """After a host comes back: check its devices afresh on the next pass."""
        for key in [k for k in self._vx_hosts if k[0] == host]:
            self._vx_hosts.pop(key, None)
        self._vx_listed.discard(host)

"""The Docker engine: nodes are containers on Docker hosts, one SDK client per host.

With no host registered, the embedded local Docker Engine is the one host (what `make
run` uses); once an admin registers hosts (POST /hosts: a `url` each), nodes go to
those (docker_hosts.py reaches them, in parallel and with short timeouts, so a lost
host never stalls a controller). Images are built on the platform's own engine and sent
to a host that lacks them (image_transfer.py); disk directories are made and deleted on
the host through its engine (docker_helper.py); networks per host in docker_networks.py.

Containers are named ``bdp-<cluster id>-<node>`` and labelled with the cluster, its dn,
the node and the platform (its data directory), so a restarted framework finds and
adopts what it started and reaps what nobody owns any more. When another platform on
an engine already has that name, ours gets ``-<hash of the data directory>`` appended:
find a node's container by ``Node.container_id`` or by labels, never by name. A node
gets its static address on every interface, eth0 first.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

from docker.errors import APIError, NotFound

from api.engines.base import (
    LABEL_CLUSTER,
    LABEL_DN,
    LABEL_NODE,
    LABEL_PLATFORM,
    Capability,
    Engine,
    HostInfo,
    InterfaceSpec,
    NodeSpec,
    NodeState,
    SubnetTaken,
)
from api.engines.docker_helper import HELPER_LABEL
from api.engines.docker_hosts import Endpoint, EngineError, HostPool, HostUnreachable
from api.engines.docker_networks import HostNetworks
from api.engines.docker_networks import used_subnets as engine_subnets
from api.engines.docker_opts import parse_docker_opts
from api.engines.docker_registered import RegisteredHosts
from api.engines.docker_segments import SegmentsMixin

log = logging.getLogger("bdp.engine.docker")

LOG_LINES = 20
__all__ = ["DockerEngine", "EngineError", "HostUnreachable", "container_name"]


class PoolOverlaps(EngineError, SubnetTaken):
    """Docker refused a network: "Pool overlaps with other one on this address space"."""


def container_name(cluster_id: int, node: str) -> str:
    return f"bdp-{cluster_id}-{node}"


def _state_of(status: str) -> str:
    return {"running": "running", "created": "starting", "restarting": "starting"}.get(status, "exited")


class DockerEngine(SegmentsMixin, RegisteredHosts, Engine):
    name = "docker"
    capabilities = frozenset({Capability.NETWORKS, Capability.IMAGES, Capability.HOSTS})

    def __init__(self, settings, client=None):
        self.settings = settings
        self.platform_label = str(settings.data_dir)
        self.pool = HostPool()
        self._local = client
        # Networks of distinct platforms (e.g. test runs) sharing one engine must not
        # clash by name; the suffix ties a docker network to this data directory.
        self.network_suffix = hashlib.sha1(self.platform_label.encode()).hexdigest()[:8]
        self.networks = HostNetworks(self.platform_label, self.network_suffix)
        self._where: dict[tuple[int, str], str] = {}  # node -> host of its container
        self._silent: set[str] = set()
        self._images_lock = threading.Lock()
        self._image_locks: dict[tuple[str, str], threading.Lock] = {}
        self._segments_init()

    @property
    def client(self):
        """The platform's own engine: the embedded host, and where images are built."""
        if self._local is None:
            self._local = self.pool.client(Endpoint.of(""))
        return self._local

    # -- hosts --------------------------------------------------------------------------
    def _embedded(self) -> Endpoint:
        return Endpoint.of(self._local_name(), "", None, "127.0.0.1")

    def _local_name(self) -> str:
        if not hasattr(self, "_hostname"):
            self._hostname = self.client.info().get("Name") or "localhost"
        return self._hostname

    def endpoint(self, host: str) -> Endpoint:
        """How to reach `host`: a registered one by its URL, else the embedded engine."""
        for ep in self.registered():
            if ep.name == host:
                return ep
        return self._embedded()

    def _client_of(self, host: str):
        ep = self.endpoint(host)
        return self.client if ep.embedded else self.pool.checked(ep)

    def hosts(self) -> list[HostInfo]:
        registered = self.registered()
        if not registered:
            return [self._embedded_info()]
        out = []
        for name, info in self.pool.each(registered, self.pool.probe).items():
            if isinstance(info, Exception):
                self._silent.add(name)
                continue
            self._silent.discard(name)
            ep = next(e for e in registered if e.name == name)
            out.append(self.host_info(ep, info))
        return out

    def _embedded_info(self) -> HostInfo:
        info = self.client.info()
        cpus = self.settings.host_cpus or info["NCPU"] * self.settings.cpu_overcommit
        mem = self.settings.host_mem or int(info["MemTotal"] // 2**20)
        disks = []
        for i in range(self.settings.disk_count()):
            path = Path(self.settings.disks_dir) / f"disk{i}"
            path.mkdir(parents=True, exist_ok=True)
            disks.append((f"disk{i}", str(path)))
        return HostInfo(name=info.get("Name") or "localhost", cpus=float(cpus), mem=mem,
                        disks=disks, address="127.0.0.1",
                        attributes={"engine": "docker",
                                    "server_version": info.get("ServerVersion", "")})

    def silent_hosts(self) -> set[str]:
        return set(self._silent)

    # -- networks -----------------------------------------------------------------------
    def network_name(self, network: str, segment: str = "") -> str:
        return self.networks.name(network, segment)

    def used_subnets(self) -> list[str]:
        """Subnets of every docker network on the platform's engine (any owner), and those
        the platform host routes (segments' shims live there)."""
        from api.engines.vxlan import routed_subnets
        return engine_subnets(self.client) + routed_subnets()

    def ensure_network(self, network: str, subnet: str, gateway: str, host: str | None = None,
                       iface: InterfaceSpec | None = None) -> str:
        """The docker network for a registry network (or the segment `iface` names) on
        `host` (default: the embedded engine), created on first use."""
        iface = iface or InterfaceSpec("", network, subnet, gateway, "")
        if iface.driver == "overlay":  # made once, on a swarm manager; workers attach to it
            manager = self._swarm_manager()
            return self.networks.ensure(self.pool.checked(manager), manager.name, iface)
        client = self.client if host is None else self._client_of(host)
        self.prepare_segment(host, iface)
        return self.networks.ensure(client, host or self._local_name(), iface)

    def remove_networks(self) -> None:
        """Remove this platform's docker networks from the embedded engine (tests, uninstall)."""
        self.networks.forget()
        for net in self.networks.ours(self.client):
            try:
                self.client.api.remove_network(net["Id"])
            except NotFound:
                pass
            except APIError as exc:  # e.g. an endpoint another tool (compose) left behind
                log.warning("cannot remove docker network %s: %s", net["Name"], exc.explanation or exc)

    # -- nodes --------------------------------------------------------------------------
    def _names(self, cluster_id: int, node: str) -> tuple[str, str]:
        """The container's name, and the one used when another platform sharing the
        engine (e.g. a concurrent test run) already has a container by that name."""
        name = container_name(cluster_id, node)
        return name, f"{name}-{self.network_suffix}"

    def _find_on(self, client, cluster_id: int, node: str):
        """The node's container (inspect data) on one host, if this platform has one."""
        for name in self._names(cluster_id, node):
            try:
                data = client.api.inspect_container(name)
            except NotFound:
                continue
            if (data["Config"].get("Labels") or {}).get(LABEL_PLATFORM) == self.platform_label:
                return data
        return None

    def _locate(self, cluster_id: int, node: str):
        """(host, client, inspect data) of the node's container, or (None, None, None).
        Looks where it was last seen, then on every host that answers."""
        known = self._where.get((cluster_id, node))
        if known is not None:
            client = self._client_of(known)  # HostUnreachable for a silent host
            data = self._find_on(client, cluster_id, node)
            if data is not None:
                return known, client, data
        candidates = [e for e in self.registered() if self.pool.silent(e.name) is None]
        found = self.pool.each(candidates, lambda e: self._find_on(self.pool.client(e), cluster_id, node),
                               timeout=30)
        for name, data in found.items():
            if data and not isinstance(data, Exception):
                self._where[(cluster_id, node)] = name
                return name, self._client_of(name), data
        try:
            data = self._find_on(self.client, cluster_id, node)
        except Exception:  # no local engine: nothing there
            data = None
        if data is not None:
            return self._local_name(), self.client, data
        return None, None, None

    def start_node(self, spec: NodeSpec) -> str:
        """Create and start the node's container on its host, or adopt the one there."""
        client = self._client_of(spec.host)
        self._where[(spec.cluster_id, spec.name)] = spec.host
        existing = self._find_on(client, spec.cluster_id, spec.name)
        if existing is not None:
            if existing["State"]["Status"] in ("created", "running"):
                # A framework killed between create and start, or between start and the
                # last connect, left it half done: finish the job.
                self._start(client, existing["Id"], spec)
            return existing["Id"]
        created = self._create(client, spec)
        self._start(client, created, spec, fresh=True)
        return created

    def _create(self, client, spec: NodeSpec) -> str:
        opts = parse_docker_opts(spec.docker_opts, spec.privileges)
        api = client.api
        binds = {m.source: {"bind": m.destination, "mode": m.mode} for m in spec.mounts}
        first = spec.interfaces[0] if spec.interfaces else None
        networking = None
        host_kwargs = dict(opts["host_config"])
        if first is not None:
            net = self.ensure_network(first.network, first.subnet, first.gateway, spec.host, first)
            host_kwargs["network_mode"] = net
            networking = api.create_networking_config(
                {net: api.create_endpoint_config(ipv4_address=first.address)})
        # Docker creates missing bind sources on the host: the disk directories come to
        # be where the container runs, not on the platform's filesystem.
        host_config = api.create_host_config(
            binds=binds, nano_cpus=int(spec.cpu * 1e9), mem_limit=f"{int(spec.mem)}m",
            **host_kwargs)
        labels = {**spec.labels, LABEL_CLUSTER: str(spec.cluster_id), LABEL_DN: spec.cluster_dn,
                  LABEL_NODE: spec.name, LABEL_PLATFORM: self.platform_label}
        for name in self._names(spec.cluster_id, spec.name):
            try:
                return api.create_container(
                    spec.image, name=name, hostname=spec.name, labels=labels,
                    environment={**opts["environment"], **spec.env},
                    host_config=host_config, networking_config=networking, detach=True)["Id"]
            except APIError as exc:
                if exc.status_code == 404 and "network" in str(exc.explanation):
                    self.networks.forget(spec.host)  # removed behind our back: make it again
                    return self._create(client, spec)
                if exc.status_code != 409:
                    raise EngineError(f"cannot create container for node {spec.name} on host "
                                      f"{spec.host}: {exc.explanation or exc}") from None
                if self._find_on(client, spec.cluster_id, spec.name) is not None:
                    raise EngineError(f"node {spec.name}'s container was created meanwhile; "
                                      "retrying") from None
        raise EngineError(f"cannot create container for node {spec.name}: names "
                          f"{' and '.join(self._names(spec.cluster_id, spec.name))} are taken")

    def _start(self, client, container_id: str, spec: NodeSpec, fresh: bool = False) -> None:
        api = client.api
        # Further interfaces are connected after the start, one at a time in device
        # order, so each connect adds the next device (eth1, eth2, ...). Connected before
        # the start, docker 20.10 attaches them in network-name order instead (seen:
        # "bdp-storage" became eth0 ahead of "bdp-zadmin").
        # When the docker networks' names already sort in device order, connecting them
        # all before the start gives the same devices for less work on the engine.
        data = None if fresh else api.inspect_container(container_id)
        names = [self.network_name(i.network, i.segment) for i in spec.interfaces]
        # Not with a swarm overlay: attaching one to a container not yet running times out.
        before = (fresh and names == sorted(names) and len(set(names)) == len(names)
                  and all(i.driver != "overlay" for i in spec.interfaces))
        if fresh:
            attached = set(names[:1])
        else:
            attached = set(data["NetworkSettings"]["Networks"] or {})
        if before:
            self._connect_rest(api, container_id, spec, attached)
        if fresh or data["State"]["Status"] == "created":
            try:
                api.start(container_id)
            except APIError as exc:
                raise EngineError(f"cannot start node {spec.name}: {exc.explanation or exc}") from None
        self._connect_rest(api, container_id, spec, attached)

    def _connect_rest(self, api, container_id: str, spec: NodeSpec, attached: set) -> None:
        for iface in spec.interfaces[1:]:
            net = self.ensure_network(iface.network, iface.subnet, iface.gateway, spec.host, iface)
            if net not in attached:
                api.connect_container_to_network(container_id, net, ipv4_address=iface.address)
                attached.add(net)

    def _state(self, data, host: str) -> NodeState:
        labels = data["Config"].get("Labels") or {}
        cid = labels.get(LABEL_CLUSTER)
        return NodeState(state=_state_of(data["State"]["Status"]), container_id=data["Id"],
                         host=host, cluster_id=int(cid) if cid and cid.isdigit() else None,
                         name=labels.get(LABEL_NODE, ""))

    def node_state(self, cluster_id: int, name: str) -> NodeState:
        host, client, data = self._locate(cluster_id, name)
        if data is None:
            return NodeState(state="missing", cluster_id=cluster_id, name=name)
        state = self._state(data, host)
        if state.state == "exited":
            state.logs = self._logs(client, data["Id"])
            code = data["State"].get("ExitCode")
            if data["State"].get("Error"):
                state.logs = (state.logs + "\n" + data["State"]["Error"]).strip()
            state.logs = f"exit code {code}" + (f"; last output:\n{state.logs}" if state.logs else "")
        return state

    @staticmethod
    def _logs(client, container_id: str, lines: int = LOG_LINES) -> str:
        try:
            out = client.api.logs(container_id, tail=lines, stdout=True, stderr=True)
        except (NotFound, APIError):
            return ""
        return out.decode(errors="replace").strip()

    def remove_node(self, cluster_id: int, name: str) -> None:
        """Remove the node's container; HostUnreachable when its host is silent."""
        host, client, data = self._locate(cluster_id, name)
        if data is not None:
            self._remove(client, data["Id"])
        self._where.pop((cluster_id, name), None)

    def reap(self, state: NodeState) -> None:
        self._remove(self._client_of(state.host), state.container_id)

    @staticmethod
    def _remove(client, container_id: str) -> None:
        try:
            client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError as exc:  # a removal already under way finishes on its own
            if exc.status_code != 409:
                raise

    def remove_container(self, container_id: str) -> None:
        self._remove(self.client, container_id)

    def list_nodes(self) -> list[NodeState]:
        """Node containers on every host that answers; the others are in silent_hosts()."""
        label = {"label": f"{LABEL_PLATFORM}={self.platform_label}"}
        # Hosts silent at their last probe are not waited on again (the monitor's probes
        # find them back); the embedded engine too: nodes placed before hosts were registered.
        registered = self.registered()
        self._silent |= {e.name for e in registered if self.pool.silent(e.name) is not None}
        endpoints = [*(e for e in registered if e.name not in self._silent), Endpoint.of("", "", None)]
        found = self.pool.each(endpoints, lambda e: (self.client if e.embedded else self.pool.client(
            e, purpose="probe")).api.containers(all=True, filters=label))
        states, ids = [], set()
        for ep in endpoints:
            result = found[ep.name]
            host = self._local_name() if ep.embedded and not isinstance(result, Exception) else ep.name
            if isinstance(result, Exception):
                if not ep.embedded:
                    self._silent.add(ep.name)
                    self.pool.note(ep.name, False, str(result))
                continue
            self._silent.discard(ep.name)
            for c in result:
                if c["Id"] in ids:  # the embedded engine also registered by its socket
                    continue
                ids.add(c["Id"])
                labels = c.get("Labels") or {}
                if HELPER_LABEL in labels:  # a helper at work, not a node
                    continue
                cid = labels.get(LABEL_CLUSTER, "")
                state = NodeState(state=_state_of(c.get("State")), container_id=c["Id"], host=host,
                                  cluster_id=int(cid) if cid.isdigit() else None,
                                  name=labels.get(LABEL_NODE, ""))
                if state.cluster_id is not None:
                    self._where[(state.cluster_id, state.name)] = host
                states.append(state)
        return states

    def has_image(self, image: str) -> bool:
        from api.engines.images import image_exists
        return image_exists(image, self.client)

    def image_digest(self, image: str) -> str | None:
        from api.engines.images import image_files_hash
        return image_files_hash(image, self.client)

    def close(self) -> None:
        self.pool.close()

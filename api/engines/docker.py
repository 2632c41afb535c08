"""The Docker engine: the local Docker Engine is one host; each node is one container.

Containers are named ``bdp-<cluster id>-<node>`` and labelled with the cluster, its dn,
the node and the platform (its data directory), so a restarted framework finds and
adopts what it started and reaps what nobody owns any more. When another platform on
the engine already has that name, ours gets ``-<hash of the data directory>`` appended:
find a node's container by ``Node.container_id`` or by labels, never by name. Each registry network is a
user-defined bridge network with the same subnet; a node gets its static address on
every interface, eth0 first.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

from api.engines.base import (
    LABEL_CLUSTER,
    LABEL_DN,
    LABEL_NODE,
    LABEL_PLATFORM,
    Capability,
    Engine,
    HostInfo,
    NodeSpec,
    NodeState,
)
from api.engines.docker_opts import parse_docker_opts

log = logging.getLogger("bdp.engine.docker")

LOG_LINES = 20


class EngineError(RuntimeError):
    """The engine refused to do something; the message says what and why."""


def container_name(cluster_id: int, node: str) -> str:
    return f"bdp-{cluster_id}-{node}"


class DockerEngine(Engine):
    name = "docker"
    capabilities = frozenset({Capability.NETWORKS, Capability.IMAGES})

    def __init__(self, settings, client=None):
        self.settings = settings
        self.platform_label = str(settings.data_dir)
        self._client = client
        self._network_lock = threading.Lock()
        self._networks_seen: set[str] = set()  # docker networks known to exist
        # Networks of distinct platforms (e.g. test runs) sharing one engine must not
        # clash by name; the suffix ties a docker network to this data directory.
        self.network_suffix = hashlib.sha1(self.platform_label.encode()).hexdigest()[:8]

    @property
    def client(self):
        if self._client is None:
            # One connection per concurrent node start (the framework starts them in parallel).
            self._client = docker.from_env(timeout=120, max_pool_size=32)
        return self._client

    # -- hosts --------------------------------------------------------------------------
    def hosts(self) -> list[HostInfo]:
        info = self.client.info()
        cpus = self.settings.host_cpus or info["NCPU"] * self.settings.cpu_overcommit
        mem = self.settings.host_mem or int(info["MemTotal"] // 2**20)
        disks = []
        for i in range(self.settings.disks):
            path = Path(self.settings.disks_dir) / f"disk{i}"
            path.mkdir(parents=True, exist_ok=True)
            disks.append((f"disk{i}", str(path)))
        return [HostInfo(name=info.get("Name") or "localhost", cpus=float(cpus), mem=mem,
                         disks=disks, address="127.0.0.1",
                         attributes={"engine": "docker",
                                     "server_version": info.get("ServerVersion", "")})]

    # -- networks -----------------------------------------------------------------------
    def network_name(self, network: str) -> str:
        return f"bdp-{network}-{self.network_suffix}"

    def used_subnets(self) -> list[str]:
        """Subnets of every docker network on the engine (any owner)."""
        subnets = []
        for net in self.client.api.networks():
            for pool in (net.get("IPAM") or {}).get("Config") or []:
                if pool.get("Subnet"):
                    subnets.append(pool["Subnet"])
        return subnets

    def ensure_network(self, network: str, subnet: str, gateway: str) -> str:
        """The docker network for a registry network, created on first use."""
        name = self.network_name(network)
        if name in self._networks_seen:
            return name
        with self._network_lock:
            found = self.client.api.networks(names=[name])
            found = [n for n in found if n["Name"] == name]
            if found:
                pools = (found[0].get("IPAM") or {}).get("Config") or []
                if pools and pools[0].get("Subnet") != subnet:
                    raise EngineError(f"docker network {name} has subnet {pools[0].get('Subnet')}, "
                                      f"the registry says {subnet}")
                self._networks_seen.add(name)
                return name
            ipam = docker.types.IPAMConfig(pool_configs=[
                docker.types.IPAMPool(subnet=subnet, gateway=gateway)])
            try:
                self.client.api.create_network(
                    name, driver="bridge", ipam=ipam, check_duplicate=True,
                    labels={LABEL_PLATFORM: self.platform_label, "org.bdp.network": network})
            except APIError as exc:
                raise EngineError(f"cannot create docker network {name} ({subnet}) for "
                                  f"network {network}: {exc.explanation or exc}") from None
            self._networks_seen.add(name)
        return name

    def remove_networks(self) -> None:
        """Remove this platform's docker networks (tests, uninstall)."""
        self._networks_seen.clear()
        for net in self.client.networks.list(filters={"label": f"{LABEL_PLATFORM}={self.platform_label}"}):
            try:
                net.remove()
            except NotFound:
                pass
            except APIError as exc:  # e.g. an endpoint another tool (compose) left behind
                log.warning("cannot remove docker network %s: %s", net.name, exc.explanation or exc)

    # -- nodes --------------------------------------------------------------------------
    def _names(self, cluster_id: int, node: str) -> tuple[str, str]:
        """The container's name, and the one used when another platform sharing the
        engine (e.g. a concurrent test run) already has a container by that name."""
        name = container_name(cluster_id, node)
        return name, f"{name}-{self.network_suffix}"

    def _find(self, cluster_id: int, node: str):
        """The node's container (inspect data) if this platform has one."""
        for name in self._names(cluster_id, node):
            try:
                data = self.client.api.inspect_container(name)
            except NotFound:
                continue
            if (data["Config"].get("Labels") or {}).get(LABEL_PLATFORM) == self.platform_label:
                return data
        return None

    def start_node(self, spec: NodeSpec) -> str:
        """Create and start the node's container, or adopt the one already there."""
        existing = self._find(spec.cluster_id, spec.name)
        if existing is not None:
            if existing["State"]["Status"] in ("created", "running"):
                # A framework killed between create and start, or between start and the
                # last connect, left it half done: finish the job.
                self._start(existing["Id"], spec)
            return existing["Id"]
        opts = parse_docker_opts(spec.docker_opts)
        api = self.client.api
        binds = {m.source: {"bind": m.destination, "mode": m.mode} for m in spec.mounts}
        for m in spec.mounts:
            Path(m.source).mkdir(parents=True, exist_ok=True)
        first = spec.interfaces[0] if spec.interfaces else None
        networking = None
        host_kwargs = dict(opts["host_config"])
        if first is not None:
            net = self.ensure_network(first.network, first.subnet, first.gateway)
            host_kwargs["network_mode"] = net
            networking = api.create_networking_config(
                {net: api.create_endpoint_config(ipv4_address=first.address)})
        host_config = api.create_host_config(
            binds=binds, nano_cpus=int(spec.cpu * 1e9), mem_limit=f"{int(spec.mem)}m",
            **host_kwargs)
        labels = {**spec.labels, LABEL_CLUSTER: str(spec.cluster_id), LABEL_DN: spec.cluster_dn,
                  LABEL_NODE: spec.name, LABEL_PLATFORM: self.platform_label}
        for name in self._names(spec.cluster_id, spec.name):
            try:
                created = api.create_container(
                    spec.image, name=name, hostname=spec.name, labels=labels,
                    environment={**opts["environment"], **spec.env},
                    host_config=host_config, networking_config=networking, detach=True)
                break
            except APIError as exc:
                if exc.status_code == 404 and "network" in str(exc.explanation) and self._networks_seen:
                    self._networks_seen.clear()  # removed behind our back: create it again
                    return self.start_node(spec)
                if exc.status_code != 409:
                    raise EngineError(f"cannot create container for node {spec.name}: "
                                      f"{exc.explanation or exc}") from None
                if self._find(spec.cluster_id, spec.name) is not None:
                    return self.start_node(spec)  # created meanwhile by another of our threads
        else:
            raise EngineError(f"cannot create container for node {spec.name}: names "
                              f"{' and '.join(self._names(spec.cluster_id, spec.name))} are taken")
        self._start(created["Id"], spec, fresh=True)
        return created["Id"]

    def _start(self, container_id: str, spec: NodeSpec, fresh: bool = False) -> None:
        api = self.client.api
        # Further interfaces are connected after the start, one at a time in device
        # order, so each connect adds the next device (eth1, eth2, ...). Connected before
        # the start, docker 20.10 attaches them in network-name order instead (seen:
        # "bdp-storage" became eth0 ahead of "bdp-zadmin").
        data = None if fresh else api.inspect_container(container_id)
        if fresh or data["State"]["Status"] == "created":
            try:
                api.start(container_id)
            except APIError as exc:
                raise EngineError(f"cannot start node {spec.name}: {exc.explanation or exc}") from None
        if fresh:
            attached = {self.network_name(spec.interfaces[0].network)} if spec.interfaces else set()
        else:
            attached = set(data["NetworkSettings"]["Networks"] or {})
        for iface in spec.interfaces[1:]:
            self._connect(container_id, iface, attached)

    def _connect(self, container_id: str, iface, attached: set) -> None:
        net = self.ensure_network(iface.network, iface.subnet, iface.gateway)
        if net in attached:
            return
        self.client.api.connect_container_to_network(container_id, net, ipv4_address=iface.address)
        attached.add(net)

    def _state(self, data) -> NodeState:
        labels = data["Config"].get("Labels") or {}
        status = data["State"]["Status"]
        state = {"running": "running", "created": "starting", "restarting": "starting"}.get(
            status, "exited")
        cid = labels.get(LABEL_CLUSTER)
        return NodeState(state=state, container_id=data["Id"], host=self._host_name(),
                         cluster_id=int(cid) if cid and cid.isdigit() else None,
                         name=labels.get(LABEL_NODE, ""))

    def _host_name(self) -> str:
        if not hasattr(self, "_hostname"):
            self._hostname = self.client.info().get("Name") or "localhost"
        return self._hostname

    def node_state(self, cluster_id: int, name: str) -> NodeState:
        data = self._find(cluster_id, name)
        if data is None:
            return NodeState(state="missing", cluster_id=cluster_id, name=name)
        state = self._state(data)
        if state.state == "exited":
            state.logs = self.logs(data["Id"])
            code = data["State"].get("ExitCode")
            if data["State"].get("Error"):
                state.logs = (state.logs + "\n" + data["State"]["Error"]).strip()
            state.logs = f"exit code {code}" + (f"; last output:\n{state.logs}" if state.logs else "")
        return state

    def logs(self, container_id: str, lines: int = LOG_LINES) -> str:
        try:
            out = self.client.api.logs(container_id, tail=lines, stdout=True, stderr=True)
        except (NotFound, APIError):
            return ""
        return out.decode(errors="replace").strip()

    def remove_node(self, cluster_id: int, name: str) -> None:
        data = self._find(cluster_id, name)
        if data is not None:
            self.remove_container(data["Id"])

    def reap(self, state: NodeState) -> None:
        self.remove_container(state.container_id)

    def has_image(self, image: str) -> bool:
        from api.engines.images import image_exists
        return image_exists(image, self.client)

    def image_digest(self, image: str) -> str | None:
        from api.engines.images import image_files_hash
        return image_files_hash(image, self.client)

    def remove_container(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True, v=True)
        except NotFound:
            pass
        except APIError as exc:  # a removal already under way finishes on its own
            if exc.status_code != 409:
                raise

    def list_nodes(self) -> list[NodeState]:
        found = self.client.api.containers(
            all=True, filters={"label": f"{LABEL_PLATFORM}={self.platform_label}"})
        states = []
        for c in found:
            labels = c.get("Labels") or {}
            cid = labels.get(LABEL_CLUSTER, "")
            state = {"running": "running", "created": "starting",
                     "restarting": "starting"}.get(c.get("State"), "exited")
            states.append(NodeState(state=state, container_id=c["Id"], host=self._host_name(),
                                    cluster_id=int(cid) if cid.isdigit() else None,
                                    name=labels.get(LABEL_NODE, "")))
        return states

"""The one small interface every engine (docker, mesos, later swarm) implements.

The framework decides *where* a node goes and *what* it gets (addresses, disks);
an engine only knows how to run, inspect and remove node containers on its hosts.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

LABEL_CLUSTER = "org.bdp.cluster"  # cluster id
LABEL_DN = "org.bdp.cluster-dn"  # clusters/<user>/<product>/<version>/<seq>
LABEL_NODE = "org.bdp.node"  # node name
LABEL_PLATFORM = "org.bdp.platform"  # data dir of the platform that owns the container


class SubnetTaken(RuntimeError):
    """ensure_network: the subnet overlaps a network someone else has on the engine."""


@dataclass
class HostInfo:
    """A host as the engine sees it: what it has in all (the framework subtracts use)."""
    name: str
    cpus: float
    mem: int  # MB
    disks: list[tuple[str, str]] = field(default_factory=list)  # (disk name, path on host)
    address: str = ""
    attributes: dict = field(default_factory=dict)
    # An admin registered it (POST /hosts): the registry has its row, which a report of
    # the engine only updates (a host removed meanwhile stays removed).
    registered: bool = False


@dataclass
class InterfaceSpec:
    device: str  # eth0, eth1, ... in device order
    network: str  # the registry network name
    subnet: str  # of the interface's segment (the network's own subnet when shared)
    gateway: str
    address: str
    segment: str = ""  # "" = the network itself (shared); else the tenant's segment ("s3")
    driver: str = "bridge"  # bridge | vxlan | macvlan | overlay (engines/docker_networks.py)
    parent: str = ""  # macvlan: the host interface it hangs off
    pool: str = ""  # the registry network's whole subnet
    vni: int = 0  # vxlan: the segment's VXLAN network identifier
    peers: tuple[str, ...] = ()  # vxlan: addresses of every other host (and the platform) on it


@dataclass
class MountSpec:
    source: str  # directory on the host
    destination: str  # path in the container
    mode: str = "rw"


@dataclass
class NodeSpec:
    """Everything an engine needs to start one node container."""
    cluster_id: int
    cluster_dn: str
    name: str  # also the container's hostname
    host: str
    image: str
    cpu: float
    mem: int  # MB
    docker_opts: str = ""
    # What the product grants beyond a plain container (api/core/privileges.py): the
    # engine checks docker_opts against it again before it starts the container.
    privileges: dict = field(default_factory=dict)
    interfaces: list[InterfaceSpec] = field(default_factory=list)
    mounts: list[MountSpec] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


class ContainerState:
    """What an engine says of a node container."""
    RUNNING = "running"
    STARTING = "starting"
    EXITED = "exited"
    MISSING = "missing"
    FAILED = "failed"
    ALIVE = (RUNNING, STARTING)
    DEAD = (EXITED, MISSING, FAILED)


@dataclass
class NodeState:
    """What the engine says a node container is doing."""
    state: str  # a ContainerState
    container_id: str = ""
    host: str = ""
    logs: str = ""  # last lines, for failure reasons
    cluster_id: int | None = None
    name: str = ""


class HostUnreachable(RuntimeError):
    """A host's engine does not answer (now, or at its last probe): what was asked of it
    is neither done nor refused."""


class Capability:
    """What an engine can do beyond running node containers. The framework asks
    `engine.capabilities`, never probes with hasattr or the engine's name."""
    NETWORKS = "networks"  # creates the registry's networks on its hosts (ensure_network)
    IMAGES = "images"  # the platform builds node images for it (has_image, then a build)
    # and sends them to hosts lacking them (ensure_image_on)
    HOSTS = "hosts"  # admins register its hosts by URL (describe_host, prepare_disks)


class Engine(ABC):
    """Runs, inspects and removes node containers on its hosts."""

    name: str = ""
    capabilities: frozenset[str] = frozenset()

    @abstractmethod
    def hosts(self) -> list[HostInfo]:
        """Every host this engine can place nodes on, with total resources."""

    @abstractmethod
    def start_node(self, spec: NodeSpec) -> str:
        """Start (or adopt, if it already exists) the node's container; returns its id.

        Must be idempotent: the framework calls it again after a crash.
        """

    @abstractmethod
    def node_state(self, cluster_id: int, name: str) -> NodeState:
        """The node container's state, found by label."""

    @abstractmethod
    def remove_node(self, cluster_id: int, name: str) -> None:
        """Remove the node's container; a missing container is not an error."""

    @abstractmethod
    def list_nodes(self) -> list[NodeState]:
        """All node containers this platform owns (to adopt or reap orphans)."""

    # -- optional, with what an engine without the capability does ------------------------

    def reap(self, state: NodeState) -> None:
        """Remove a container nobody owns any more (`state` from list_nodes)."""
        self.remove_node(state.cluster_id, state.name)

    def silent_hosts(self) -> set[str]:
        """Hosts the last list_nodes could not ask: their containers are unknown, not gone."""
        return set()

    def prepare_nodes(self, specs: list[NodeSpec]) -> None:
        """Before a cluster's nodes start, get ready at once what they share (NETWORKS:
        their segments on every host); each start_node still makes sure of its own."""

    def host_returned(self, host: str) -> None:
        """A host answers again after it was lost: forget what was cached of it."""

    def clean_disks(self, host: str, paths: list[str]) -> None:
        """Delete a destroyed node's data (directories under the host's disks). Engines
        whose disks the platform cannot reach itself do it on the host; by default they
        are directories the platform's own filesystem sees."""
        import shutil
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    def used_subnets(self) -> list[str]:
        """Subnets the engine's hosts already use (NETWORKS)."""
        return []

    def ensure_network(self, network: str, subnet: str, gateway: str) -> None:
        """Create the registry network on the engine's hosts if missing (NETWORKS)."""

    def converge_segments(self, wanted: dict, vnis: set[int], peers: dict | None = None) -> int:
        """Remove network segments no holding node uses any more on the hosts that answer,
        complete the ones in use (NETWORKS); returns how many went."""
        return 0

    def has_image(self, image: str) -> bool:
        """Whether the node image is there (IMAGES); other engines' hosts get images
        themselves."""
        return True

    def ensure_image_on(self, host: str, image: str) -> str | None:
        """Send the image to a host lacking it (IMAGES); what was done, for the events."""
        return None

    def image_digest(self, image: str) -> str | None:
        """What the image was built from (IMAGES: the files hash of its build context), to
        tell an image older than its product bundle; None when unknown."""
        return None

    def close(self) -> None:
        """Let go of connections and background threads."""

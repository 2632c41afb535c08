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


@dataclass
class HostInfo:
    """A host as the engine sees it: what it has in all (the framework subtracts use)."""
    name: str
    cpus: float
    mem: int  # MB
    disks: list[tuple[str, str]] = field(default_factory=list)  # (disk name, path on host)
    address: str = ""
    attributes: dict = field(default_factory=dict)


@dataclass
class InterfaceSpec:
    device: str  # eth0, eth1, ... in device order
    network: str  # the registry network name
    subnet: str
    gateway: str
    address: str


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


class Capability:
    """What an engine can do beyond running node containers. The framework asks
    `engine.capabilities`, never probes with hasattr or the engine's name."""
    NETWORKS = "networks"  # creates the registry's networks on its hosts (ensure_network)
    IMAGES = "images"  # the platform builds node images for it (has_image, then a build)


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

    def used_subnets(self) -> list[str]:
        """Subnets the engine's hosts already use (NETWORKS)."""
        return []

    def ensure_network(self, network: str, subnet: str, gateway: str) -> None:
        """Create the registry network on the engine's hosts if missing (NETWORKS)."""

    def has_image(self, image: str) -> bool:
        """Whether the node image is there (IMAGES); other engines' hosts get images
        themselves."""
        return True

    def image_digest(self, image: str) -> str | None:
        """What the image was built from (IMAGES: the files hash of its build context), to
        tell an image older than its product bundle; None when unknown."""
        return None

    def close(self) -> None:
        """Let go of connections and background threads."""

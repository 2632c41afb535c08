"""The one small interface every engine (docker, mesos, later swarm) implements.

The framework decides *where* a node goes and *what* it gets (addresses, disks);
an engine only knows how to run, inspect and remove node containers on its hosts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

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


@dataclass
class NodeState:
    """What the engine says a node container is doing."""
    state: str  # "running" | "starting" | "exited" | "missing" | "failed"
    container_id: str = ""
    host: str = ""
    logs: str = ""  # last lines, for failure reasons
    cluster_id: int | None = None
    name: str = ""


class Engine(Protocol):
    name: str

    def hosts(self) -> list[HostInfo]:
        """Every host this engine can place nodes on, with total resources."""

    def start_node(self, spec: NodeSpec) -> str:
        """Start (or adopt, if it already exists) the node's container; returns its id.

        Must be idempotent: the framework calls it again after a crash.
        """

    def node_state(self, cluster_id: int, name: str) -> NodeState:
        """The node container's state, found by label."""

    def remove_node(self, cluster_id: int, name: str) -> None:
        """Remove the node's container; a missing container is not an error."""

    def list_nodes(self) -> list[NodeState]:
        """All node containers this platform owns (to adopt or reap orphans)."""

    def exec(self, cluster_id: int, name: str, command: list[str]) -> tuple[int, str]:
        """Run a command inside a node (used by tests and readiness checks)."""

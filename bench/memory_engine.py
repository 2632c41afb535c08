"""An in-memory engine, for benchmarks only: hosts and containers as data, no Docker.

It implements api/engines/base.Engine so that placement, allocation and the framework's
controller loop can run at sizes no test machine has (1,000 hosts, 10,000 nodes): its
hosts have varied cpus, memory and data disks, and a started node is "running" at once.
"""
from __future__ import annotations

import random
import threading

from api.engines.base import ContainerState, Engine, HostInfo, NodeSpec, NodeState


def varied_hosts(count: int, seed: int = 13) -> list[HostInfo]:
    """`count` hosts with varied free cpus (16-128), memory (64-512 GB) and disks (4-24)."""
    rng = random.Random(seed)
    hosts = []
    for i in range(count):
        disks = rng.randint(4, 24)
        hosts.append(HostInfo(name=f"sim{i:04d}", cpus=float(rng.choice([16, 32, 64, 128])),
                              mem=rng.choice([65536, 131072, 262144, 524288]),
                              disks=[(f"disk{d}", f"/sim/{i}/disk{d}") for d in range(disks)],
                              address=f"10.200.{i // 250}.{i % 250 + 1}"))
    return hosts


class MemoryEngine(Engine):
    name = "memory"

    def __init__(self, hosts: list[HostInfo]):
        self._hosts = hosts
        self.containers: dict[tuple[int, str], NodeState] = {}
        self.lock = threading.Lock()
        self.started = 0

    def hosts(self) -> list[HostInfo]:
        return list(self._hosts)

    def start_node(self, spec: NodeSpec) -> str:
        with self.lock:
            key = (spec.cluster_id, spec.name)
            state = self.containers.get(key)
            if state is None:
                self.started += 1
                state = NodeState(ContainerState.RUNNING, f"mem-{self.started:08d}", spec.host,
                                  cluster_id=spec.cluster_id, name=spec.name)
                self.containers[key] = state
            return state.container_id

    def node_state(self, cluster_id: int, name: str) -> NodeState:
        with self.lock:
            return self.containers.get((cluster_id, name)) or NodeState(ContainerState.MISSING)

    def remove_node(self, cluster_id: int, name: str) -> None:
        with self.lock:
            self.containers.pop((cluster_id, name), None)

    def list_nodes(self) -> list[NodeState]:
        with self.lock:
            return list(self.containers.values())

"""Helpers for the framework tests: clusters written straight into the registry (as the
API's registration stores them), a framework stepped until a status, and cleanup."""
from __future__ import annotations

import time

from api.core.models import Cluster, Interface, Network, Node, NodeDisk, Product, User
from api.infra.network import write_transaction

REFERENCE_IMAGE = "bdp/reference:1.0.0"


def make_cluster(nodes: dict, user="alice", product=("reference", "1.0.0"), status="registered") -> Cluster:
    """`nodes`: {name: {"cpu", "mem", "image", "disks": n, "networks": [names], "check_ports",
    "docker_opts", "required_host"}}."""
    with write_transaction():
        owner, _ = User.get_or_create(name=user)
        prod, _ = Product.get_or_create(name=product[0], version=product[1])
        seq = Cluster.select().where((Cluster.user == owner) & (Cluster.product == prod)).count() + 1
        cluster = Cluster.create(user=owner, product=prod, seq=seq, status=status)
        for name, spec in nodes.items():
            node = Node.create(cluster=cluster, name=name, cpu=spec.get("cpu", 0.25),
                               mem=spec.get("mem", 128), docker_image=spec.get("image", REFERENCE_IMAGE),
                               check_ports=spec.get("check_ports", [22]),
                               docker_opts=spec.get("docker_opts", ""),
                               required_host=spec.get("required_host", ""))
            for d in range(1, spec.get("disks", 0) + 1):
                NodeDisk.create(node=node, name=f"disk{d}", destination=f"/data/{d}", type="sata")
            for i, net in enumerate(spec.get("networks", ["admin", "storage"])):
                Interface.create(node=node, device=f"eth{i}", network=Network.get(Network.name == net))
    return cluster


def nodes(count: int, **spec) -> dict:
    return {f"node{i}": dict(spec) for i in range(1, count + 1)}


def step_until(framework, cluster_id: int, statuses: set[str], timeout: float = 120) -> Cluster:
    deadline = time.monotonic() + timeout
    while True:
        framework.step()
        cluster = Cluster.get_by_id(cluster_id)
        if cluster.status in statuses:
            return cluster
        if time.monotonic() > deadline:
            raise AssertionError(f"cluster {cluster_id} is {cluster.status}, not {statuses}: "
                                 f"{cluster.reason}")
        time.sleep(0.2)

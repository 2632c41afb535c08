"""Helpers for the orchestrator tests: a `scheduled` cluster made of real containers.

`scheduled_cluster` writes the registry rows the API and the framework would have
written (cluster, nodes, interfaces with addresses, disks, services) and starts one
real container per node from bdp/base:bookworm with the cluster's key installed, so
the orchestrator is exercised on its own, against real sshd and ansible.
"""
from __future__ import annotations

import ipaddress
import random

import pytest

from api.clusters.keys import authorized_keys
from api.core import status as st
from api.core.models import Cluster, Interface, Network, Node, NodeDisk, Product, Service, User
from api.engines.base import InterfaceSpec, NodeSpec
from api.engines.docker import DockerEngine

BASE_IMAGE = "bdp/base:bookworm"


def free_subnet(engine: DockerEngine) -> ipaddress.IPv4Network:
    """A /24 no docker network on this engine uses (other engineers' tests included)."""
    used = [ipaddress.ip_network(s) for s in engine.used_subnets() if ":" not in s]
    for _ in range(200):
        candidate = ipaddress.ip_network(f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(u) for u in used):
            return candidate
    pytest.fail("no free /24 subnet for a test network")


def ensure_network(engine: DockerEngine, name: str) -> Network:
    network = Network.get_or_none(Network.name == name)
    if network is None:
        subnet = free_subnet(engine)
        hosts = list(subnet.hosts())
        network = Network.create(name=name, subnet=str(subnet), gateway=str(hosts[0]),
                                 range_start=str(hosts[1]), range_end=str(hosts[-1]))
    return network


def reference_product(orchestrator: bytes | None = None, fmt: str = "yaml",
                      name: str = "reference", version: str = "1.0.0") -> Product:
    """The product row; orchestrator None means "use products/<name>/<version>/playbook.yml"."""
    product, _ = Product.get_or_create(name=name, version=version)
    product.orchestrator = orchestrator
    product.orchestrator_format = fmt
    product.save()
    return product


def scheduled_cluster(platform, size: int = 3, user: str = "alice", product: Product | None = None,
                      marker: str = "configured-by-bdp", start: bool = True,
                      user_keys: list[str] | None = None) -> Cluster:
    """A cluster shaped like the reference template, its nodes running, status `scheduled`."""
    engine = DockerEngine(platform.settings)
    owner, _ = User.get_or_create(name=user)
    if user_keys is not None:
        owner.ssh_keys = user_keys
        owner.save()
    product = product or reference_product()
    seq = Cluster.select().where((Cluster.user == owner) & (Cluster.product == product)).count() + 1
    cluster = Cluster.create(user=owner, product=product, seq=seq, status=st.SCHEDULED,
                             options={"size": size, "marker": marker},
                             dnsname=f"{product.name}-{seq}.{user}.bdp")
    admin = ensure_network(engine, "admin")
    storage = ensure_network(engine, "storage")
    used = {(i.network_id, i.address) for i in Interface.select() if i.address}

    def next_address(network: Network) -> str:
        for host in list(ipaddress.ip_network(network.subnet).hosts())[1:]:
            if (network.id, str(host)) not in used:
                used.add((network.id, str(host)))
                return str(host)
        raise RuntimeError("test network full")

    names = [f"node{i}" for i in range(1, size + 1)]
    for i, name in enumerate(names, start=1):
        node = Node.create(cluster=cluster, name=name, cpu=0.5, mem=256, check_ports=[22],
                           tags=["master" if i == 1 else "worker"], docker_image=BASE_IMAGE,
                           status="running")
        NodeDisk.create(node=node, name="disk1", destination="/data/1")
        for device, network in (("eth0", admin), ("eth1", storage)):
            Interface.create(node=node, device=device, network=network, address=next_address(network))
    Service.create(cluster=cluster, name="master", nodes=names[:1], properties={})
    Service.create(cluster=cluster, name="workers", nodes=names[1:], properties={})
    Service.create(cluster=cluster, name="marker", nodes=names, properties={"text": marker})
    if start:
        start_containers(platform, cluster)
    return cluster


def start_containers(platform, cluster: Cluster) -> None:
    engine = DockerEngine(platform.settings)
    keys = "\n".join(authorized_keys(platform.settings, cluster))
    for node in Node.select().where(Node.cluster == cluster):
        interfaces = []
        for iface in Interface.select().where(Interface.node == node).order_by(Interface.device):
            net = iface.network
            interfaces.append(InterfaceSpec(iface.device, net.name, net.subnet, net.gateway, iface.address))
        spec = NodeSpec(cluster_id=cluster.id, cluster_dn=cluster.dn, name=node.name, host="local",
                        image=BASE_IMAGE, cpu=node.cpu, mem=node.mem, interfaces=interfaces,
                        env={"BDP_AUTHORIZED_KEYS": keys})
        node.container_id = engine.start_node(spec)
        node.save()


def cleanup(platform, docker_client) -> None:
    from api.engines.base import LABEL_PLATFORM
    label = f"{LABEL_PLATFORM}={platform.settings.data_dir}"
    for container in docker_client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    DockerEngine(platform.settings).remove_networks()


def node_exec(platform, cluster: Cluster, node: str, command: list[str]) -> tuple[int, str]:
    import docker
    code, out = node_container(platform, docker.from_env(), cluster, node).exec_run(command)
    return code, out.decode(errors="replace")


def node_container(platform, docker_client, cluster: Cluster, node: str):
    """The node's container, found by labels (names may carry a per-platform suffix, and
    another platform on this engine may have a cluster with the same id)."""
    from api.engines.base import LABEL_CLUSTER, LABEL_NODE, LABEL_PLATFORM
    found = docker_client.containers.list(all=True, filters={"label": [
        f"{LABEL_PLATFORM}={platform.settings.data_dir}", f"{LABEL_CLUSTER}={cluster.id}",
        f"{LABEL_NODE}={node}"]})
    assert len(found) == 1, f"{cluster.dn} {node}: {found}"
    return found[0]

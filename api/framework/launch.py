"""Launch: a placed cluster's nodes become running containers.

The node image is made sure of first (built from the product bundle when the engine
lacks it), then every node's container is started in parallel and watched until it
runs and answers on its check ports. A node whose container exits or never answers
fails the cluster with the reason (the container's last lines of output).
"""
from __future__ import annotations

import logging
import re
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path

from api.clusters import keys as sshkeys
from api.core import status as st
from api.core.errors import Permanent
from api.core.models import Cluster, Interface, Network, Node, NodeDisk
from api.core.status import NodeStatus
from api.engines.base import Capability, ContainerState, InterfaceSpec, MountSpec, NodeSpec
from api.framework.allocation import device_key
from api.infra import disk as disks

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
PORT_POLL = 0.1
# A node start given up because the cluster left `scheduling` (e.g. a DELETE came in).
ABANDONED = "abandoned"


def port_open(address: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((address, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


class Launcher:
    def __init__(self, platform, pool: ThreadPoolExecutor):
        self.platform = platform
        self.settings = platform.settings
        self.pool = pool
        self._images_ok: set[str] = set()

    @property
    def engine(self):
        return self.platform.engine

    # ------------------------------------------------------------------ images
    def ensure_image(self, cluster: Cluster, image: str) -> None:
        """Build the node image if the engine lacks it; Permanent when it cannot be had."""
        if Capability.IMAGES not in self.engine.capabilities:
            return
        from api.engines import images
        if image in self._images_ok or self.engine.has_image(image):
            self._say_if_stale(cluster, image)  # every launch: a bundle may change meanwhile
            self._images_ok.add(image)
            return
        build = None
        if image == images.BASE_IMAGE:
            build = lambda: images.ensure_base_image(log=log.debug)  # noqa: E731
        elif match := re.fullmatch(r"bdp/([^:/]+):(.+)", image):
            bundle = self._bundle_dir(cluster, match.group(1), match.group(2))
            if bundle is not None:
                build = lambda: images.ensure_product_image(  # noqa: E731
                    bundle, match.group(1), match.group(2), log=log.debug)
        if build is None:
            raise Permanent(f"image {image} is not on the engine and no product bundle under "
                            f"{self.settings.products_dir} builds it")
        st.record(cluster.id, COMPONENT, f"building image {image}")
        started = time.monotonic()
        try:
            build()
        except Exception as exc:
            # Not retried: a build that failed would fail again on every pass.
            raise Permanent(f"building image {image} failed: {exc}") from None
        st.record(cluster.id, COMPONENT, f"built image {image} in {time.monotonic() - started:.0f}s")
        self._images_ok.add(image)

    def _say_if_stale(self, cluster: Cluster, image: str) -> None:
        """An image built from another image/ than the product's bundle was loaded with
        (a Dockerfile edited after the build) is used as it is, but the events say so."""
        product = cluster.product
        if image != product.image or not product.image_hash:
            return
        built_from = self.engine.image_digest(image)
        if built_from and built_from != product.image_hash:
            st.record(cluster.id, COMPONENT, f"image {image} is older than the {product.name} "
                      f"{product.version} bundle (its image/ changed since the build); this launch "
                      "uses it as it is: rebuild it with `bdp products load DIR --build`", level="warning")

    def _bundle_dir(self, cluster: Cluster, name: str, version: str) -> Path | None:
        from api.engines.images import product_image_tag
        root = Path(self.settings.products_dir)
        for cand in (root / name / version, root / cluster.product.name / cluster.product.version):
            if (cand / "image" / "Dockerfile").is_file() and \
                    product_image_tag(cand.parent.name, cand.name) == f"bdp/{name}:{version}":
                return cand
        return None

    # ------------------------------------------------------------------ specs
    def spec(self, cluster: Cluster, node: Node) -> NodeSpec:
        """Everything the engine needs to start the node, from the registry."""
        interfaces = []
        for iface in sorted(Interface.select(Interface, Network).join(Network)
                            .where(Interface.node == node), key=lambda i: device_key(i.device)):
            net = iface.network
            interfaces.append(InterfaceSpec(iface.device, net.name, net.subnet, net.gateway,
                                            iface.address))
        mounts = []
        for nd in NodeDisk.select().where(NodeDisk.node == node).order_by(NodeDisk.name):
            if nd.disk_id is None:
                raise Permanent(f"node {node.name}: disk {nd.name} has no host disk")
            mounts.append(MountSpec(str(disks.origin_dir(nd.disk, cluster, node.name)),
                                    nd.destination, "ro" if nd.mode == "ro" else "rw"))
        keys = "\n".join(sshkeys.authorized_keys(self.settings, cluster))
        return NodeSpec(cluster_id=cluster.id, cluster_dn=cluster.dn, name=node.name,
                        host=node.host.name, image=node.docker_image, cpu=node.cpu, mem=node.mem,
                        docker_opts=node.docker_opts or "", interfaces=interfaces, mounts=mounts,
                        env={"BDP_AUTHORIZED_KEYS": keys})

    # ------------------------------------------------------------------ starting
    def bring_up(self, cluster: Cluster, nodes: list[Node], specs: list[NodeSpec],
                 total: int) -> bool:
        """Start the nodes in parallel; True when every one runs and answers."""
        deadline = time.monotonic() + self.settings.start_timeout
        abort = threading.Event()
        futures = {self.pool.submit(self.start_node, cluster, node, spec, deadline, abort): node
                   for node, spec in zip(nodes, specs)}
        running = total - len(nodes)
        failure = None
        pending = set(futures)
        while pending:
            done, pending = wait_futures(pending, return_when=FIRST_COMPLETED)
            for future in done:
                node = futures[future]
                try:
                    reason = future.result()
                except Exception as exc:
                    reason = f"node {node.name} could not start: {exc}"
                if reason is None:
                    running += 1
                    st.set_progress(cluster.id, running, total)
                elif reason == ABANDONED:
                    abort.set()
                    failure = failure or reason
                elif failure is None or failure == ABANDONED:
                    failure = reason
                    Node.update(status=NodeStatus.FAILED, reason=reason).where(Node.id == node.id).execute()
                    abort.set()
        if failure and failure != ABANDONED:
            st.fail(cluster, COMPONENT, failure)
        return failure is None

    def start_node(self, cluster: Cluster, node: Node, spec: NodeSpec, deadline: float,
                   abort: threading.Event) -> str | None:
        """Start one node and wait for it; None when running, else the reason it failed."""
        container_id = self.engine.start_node(spec)
        if node.container_id != container_id:
            Node.update(container_id=container_id).where(Node.id == node.id).execute()
        address = spec.interfaces[0].address if spec.interfaces else None
        ports = list(node.check_ports or []) if address else []
        polls = 0
        while not abort.is_set():
            answering = all(port_open(address, p) for p in ports)
            # Inspecting is dearer than a connect: do it when the ports answer (to confirm
            # the container runs) and every half second otherwise (to see it exit).
            if answering or polls % 5 == 0:
                state = self.engine.node_state(cluster.id, node.name)
                if state.state in ContainerState.DEAD:
                    what = "disappeared" if state.state == ContainerState.MISSING else "exited"
                    return f"node {node.name}'s container {what} while starting: {state.logs}".strip()
                if answering and state.state == ContainerState.RUNNING:
                    Node.update(status=NodeStatus.RUNNING, reason="").where(Node.id == node.id).execute()
                    return None
            if time.monotonic() > deadline:
                return (f"node {node.name}: port(s) {', '.join(map(str, ports))} on {address} did "
                        f"not accept connections within {self.settings.start_timeout:g}s")
            if polls % 10 == 9 and Cluster.get_by_id(cluster.id).status != st.SCHEDULING:
                return ABANDONED
            polls += 1
            time.sleep(PORT_POLL)
        return ABANDONED

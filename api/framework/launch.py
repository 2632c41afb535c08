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
import subprocess
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
from api.infra import segments

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
PORT_POLL = 0.1
# A node start given up because the cluster left `scheduling` (e.g. a DELETE came in).
ABANDONED = "abandoned"


def forget_neighbours(addresses) -> None:
    """The platform host forgets which MAC answered for these addresses: a node recreated
    with its old addresses (a replace, a node moved off a lost host) is a new container
    with a new MAC, and a neighbour entry still naming the old one would keep the
    platform from reaching it until the entry ages out (seen: 25 s to start, 110 s for
    the next playbook run). Needs CAP_NET_ADMIN, as the VXLAN segments do; without it,
    it waits as before."""
    for address in sorted({a for a in addresses if a}):
        subprocess.run(["ip", "neigh", "flush", "to", address], capture_output=True, timeout=10)


def port_open(address: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((address, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def interface_spec(iface: Interface, members: dict | None = None) -> InterfaceSpec:
    """What the engine needs to attach one interface: its segment's subnet, gateway and
    realisation (a bridge, a VXLAN with its peers, a site macvlan or overlay)."""
    net = iface.network
    seg = segments.of_interface(iface)
    if seg is None:  # an address taken before networks had segments: the whole network
        return InterfaceSpec(iface.device, net.name, net.subnet, net.gateway, iface.address)
    driver = seg.kind if seg.kind in ("vxlan", "macvlan", "overlay") else "bridge"
    return InterfaceSpec(
        iface.device, net.name, seg.subnet, seg.gateway, iface.address,
        segment=segments.name(seg), driver=driver, pool=net.subnet, vni=seg.vni or 0,
        parent=net.parent if driver == "macvlan" else "",
        peers=_members(seg, members) if driver == "vxlan" else ())


def _members(seg, cache: dict | None) -> tuple[str, ...]:
    """The segment's member hosts, asked once per segment for a cluster's specs."""
    if cache is None:
        return tuple(segments.member_addresses(seg))
    if seg.id not in cache:
        cache[seg.id] = tuple(segments.member_addresses(seg))
    return cache[seg.id]


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

    def get_ready(self, cluster: Cluster, nodes: list[Node], specs: list[NodeSpec]) -> None:
        """Before the nodes start, at once: their images on their hosts, and what they
        share on them (their network segments)."""
        prepared = self.pool.submit(self.engine.prepare_nodes, specs)
        try:
            self.send_images(cluster, nodes)
        finally:
            try:
                prepared.result()
            except Exception as exc:  # each node's start makes sure again, and says why
                log.warning("cluster %s: preparing its nodes: %s", cluster.id, exc)

    def send_images(self, cluster: Cluster, nodes: list[Node]) -> None:
        """Give every host a node goes to the node's image (IMAGES engines send it from
        the platform's engine; once per image id and host), saying so on the cluster."""
        if Capability.IMAGES not in self.engine.capabilities:
            return
        wanted = sorted({(n.host.name, n.docker_image) for n in nodes if n.host_id is not None})
        futures = [(host, image, self.pool.submit(self.engine.ensure_image_on, host, image))
                   for host, image in wanted]
        for host, image, future in futures:
            try:
                done = future.result()
            except Exception as exc:  # the image cannot be had there: retried on a later pass
                raise RuntimeError(f"cannot give host {host} image {image}: {exc}") from None
            if done:
                st.record(cluster.id, COMPONENT, done)

    def _bundle_dir(self, cluster: Cluster, name: str, version: str) -> Path | None:
        from api.engines.images import product_image_tag
        root = Path(self.settings.products_dir)
        for cand in (root / name / version, root / cluster.product.name / cluster.product.version):
            if (cand / "image" / "Dockerfile").is_file() and \
                    product_image_tag(cand.parent.name, cand.name) == f"bdp/{name}:{version}":
                return cand
        return None

    # ------------------------------------------------------------------ specs
    def spec(self, cluster: Cluster, node: Node, members: dict | None = None) -> NodeSpec:
        """Everything the engine needs to start the node, from the registry (`members`:
        segment members already looked up for the cluster's other nodes)."""
        interfaces = [interface_spec(iface, members) for iface in sorted(
            Interface.select(Interface, Network).join(Network).where(Interface.node == node),
            key=lambda i: device_key(i.device))]
        mounts = []
        for nd in NodeDisk.select().where(NodeDisk.node == node).order_by(NodeDisk.name):
            if nd.disk_id is None:
                raise Permanent(f"node {node.name}: disk {nd.name} has no host disk")
            mounts.append(MountSpec(str(disks.origin_dir(nd.disk, cluster, node.name)),
                                    nd.destination, "ro" if nd.mode == "ro" else "rw"))
        keys = "\n".join(sshkeys.authorized_keys(self.settings, cluster))
        return NodeSpec(cluster_id=cluster.id, cluster_dn=cluster.dn, name=node.name,
                        host=node.host.name, image=node.docker_image, cpu=node.cpu, mem=node.mem,
                        docker_opts=node.docker_opts or "", privileges=cluster.product.privileges or {},
                        interfaces=interfaces, mounts=mounts,
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
                   abort: threading.Event, statuses=(st.SCHEDULING,)) -> str | None:
        """Start one node and wait for it; None when running, else the reason it failed.
        Abandoned when the cluster leaves `statuses` (a day-2 start: ready or stopped)."""
        container_id = self.engine.start_node(spec)
        if node.container_id != container_id:
            Node.update(container_id=container_id).where(Node.id == node.id).execute()
        address = spec.interfaces[0].address if spec.interfaces else None
        ports = list(node.check_ports or []) if address else []
        polls = 0
        while not abort.is_set():
            answering = all(port_open(address, p) for p in ports)
            # Inspecting is dearer than a connect (and a busy engine's cpu is the nodes'):
            # do it when the ports answer (to confirm the container runs) and every two
            # seconds otherwise (to see it exit).
            if answering or polls % 20 == 0:
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
            if polls % 10 == 9 and Cluster.get_by_id(cluster.id).status not in statuses:
                return ABANDONED
            polls += 1
            time.sleep(PORT_POLL)
        return ABANDONED

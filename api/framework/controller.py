"""The framework: places cluster nodes on hosts and runs them (the seed's Mesos scheduler).

Level-triggered: each pass reads what the registry says should be and what the engine
says is, and moves every cluster one step closer.

* `registered`/`scheduling`: claim the cluster with a lease, build one offer per host
  (free cpus, memory, disks), place every node, allocate its addresses and disks in one
  transaction (all or nothing, so an unplaceable cluster holds nothing), make sure its
  image exists, start the containers in parallel and wait until each runs and answers
  on its check ports -> `scheduled`.
* `destroying`: remove the containers, release addresses and disks -> `destroyed`.
* Every few seconds one look at the engine's containers (one list call) removes orphans
  (their cluster is destroyed or gone) and notices nodes that died after scheduling: the
  node goes `failed` with the reason, the cluster gets an event naming it, and a cluster
  not yet `ready` fails.

Everything it decides is in the registry before it touches the engine, and the engine
calls are idempotent (containers are found by name and label), so a framework killed at
any moment and started again simply carries on.
"""
from __future__ import annotations

import logging
import re
import shutil
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from pathlib import Path

from peewee import SqliteDatabase

from api.infra import disk as disks
from api.infra import host as hosts
from api.core import lease
from api.infra import network
from api.clusters import keys as sshkeys
from api.core.auth import sees_cluster
from api.engines.base import InterfaceSpec, MountSpec, NodeSpec
from api.core.models import Cluster, Disk, Event, Interface, Network, Node, NodeDisk, db, utcnow
from api.core.status import (CONFIGURED, CONFIGURING, DESTROYED, DESTROYING, READY, REGISTERED,
                     SCHEDULED, SCHEDULING, STOPPED, fail, record, set_progress, transition)

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
HOST_SYNC_SECONDS = 30
SURVEY_SECONDS = 3  # how often the engine is asked which node containers exist
# Clusters whose running nodes are watched, and those of them a dead node fails: a
# `ready` or `stopped` cluster keeps its status (the node and an event say what died).
WATCHED = {SCHEDULED, CONFIGURING, CONFIGURED, READY, STOPPED}
FAIL_ON_DEAD_NODE = {SCHEDULED, CONFIGURING, CONFIGURED}
PORT_POLL = 0.1


def device_key(device: str):
    """eth2 before eth10."""
    match = re.match(r"(\D*)(\d*)$", device)
    return (match.group(1), int(match.group(2) or 0)) if match else (device, 0)


def port_open(address: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((address, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


# A node start given up because the cluster left `scheduling` (e.g. a DELETE came in).
ABANDONED = "abandoned"


def _num(value: float) -> str:
    """2 rather than 2.0, 0.25 as is, and never 1e+08."""
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


PLACEMENT_LOCK = 0x62647002  # PostgreSQL advisory lock: one placement at a time


@contextmanager
def placement_transaction():
    """The transaction a placement runs in. SQLite's IMMEDIATE transaction already lets
    one writer in at a time; on PostgreSQL an advisory lock does the same for placements."""
    with network.write_transaction():
        if not isinstance(db.obj, SqliteDatabase):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (PLACEMENT_LOCK,))
        yield


def _disk_list(names: list[str]) -> str:
    """disk0..disk3 for a run of numbered names, else the names."""
    parts = [re.fullmatch(r"(.*?)(\d+)", n) for n in names]
    if len(names) > 2 and all(parts) and len({p.group(1) for p in parts}) == 1 and \
            [int(p.group(2)) for p in parts] == list(range(int(parts[0].group(2)),
                                                         int(parts[0].group(2)) + len(names))):
        return f"{names[0]}..{names[-1]}"
    return ", ".join(names) or "no disks"


def _named_disk_missing(node: Node, name: str, candidates: list, cluster: Cluster | None) -> str:
    """Why no candidate host offers the disk `name`. The message becomes an event the
    cluster's owner reads, so another cluster is named only if that owner may see it."""
    where = [o for o in candidates if name in o.all_disks]
    if not where:
        hosts_ = "; ".join(f"host {o.host}: {_disk_list(o.all_disks)}" for o in candidates)
        return f"node {node.name} needs disk {name}; no host has it ({hosts_})"
    offer = where[0]
    if name in offer.claimed:
        return (f"node {node.name} needs disk {name}, which node {offer.claimed[name]} of "
                f"this cluster takes on host {offer.host}")
    holder = Disk.get_or_none((Disk.host == offer.host_id) & (Disk.name == name))
    owner = holder.node.cluster if holder is not None and holder.node_id is not None else None
    if owner is not None and cluster is not None and owner.id == cluster.id:
        by = f"is used on host {offer.host} by node {holder.node.name} of this cluster"
    elif owner is not None and cluster is not None and sees_cluster(cluster.user, owner.dn):
        by = f"is used on host {offer.host} by {owner.dn}"
    else:
        by = f"is in use by another cluster on host {offer.host}"
    return f"node {node.name} needs disk {name}, which {by}"


class Definite(RuntimeError):
    """A launch problem that retrying will not cure (no bundle builds the image, the
    build failed): the cluster fails at once."""


class Unplaceable(Exception):
    """The cluster does not fit now; the message says what is missing and where."""


class Framework:
    name = "framework"

    def __init__(self, platform, max_clusters: int = 8, max_starts: int = 24):
        self.platform = platform
        self.settings = platform.settings
        self.owner = lease.new_owner(COMPONENT)
        self._clusters = ThreadPoolExecutor(max_clusters, thread_name_prefix="bdp-fw-cluster")
        self._starts = ThreadPoolExecutor(max_starts, thread_name_prefix="bdp-fw-node")
        self._inflight: dict[int, Future] = {}
        self._hosts_synced = 0.0
        self._surveyed = 0.0
        self.survey_seconds = SURVEY_SECONDS
        self._suspects: set[int] = set()  # nodes seen dead on the last survey
        self._networks_ready = False
        self._images_ok: set[str] = set()

    @property
    def engine(self):
        return self.platform.engine

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        log.info("framework %s running", self.owner)
        while not stop.is_set():
            try:
                self.step(wait=False)
            except Exception:  # keep the controller alive; the next pass retries
                log.exception("framework pass failed")
            self.platform.wait(COMPONENT, self.settings.poll_interval)
        self._clusters.shutdown(wait=False, cancel_futures=True)
        self._starts.shutdown(wait=False, cancel_futures=True)

    def step(self, wait: bool = True) -> bool:
        """One pass. With `wait` (the default, for tests and one-shot use) it returns
        when the work it started is done; `run` does not wait, so a slow cluster (an
        image build, a slow node) never holds up the others."""
        did = self._collect()
        self._prepare()
        for cid in lease.claimable({REGISTERED, SCHEDULING, DESTROYING}, self.owner):
            if cid in self._inflight:
                continue
            if not lease.claim(cid, self.owner, self.settings.lease_seconds,
                               statuses={REGISTERED, SCHEDULING, DESTROYING}):
                continue
            self._inflight[cid] = self._clusters.submit(self._work, cid)
            did = True
        if time.monotonic() - self._surveyed >= self.survey_seconds:
            did = self._survey() or did
        if wait:
            while self._inflight:
                wait_futures(list(self._inflight.values()))
                did = self._collect() or did
        return did

    def _collect(self) -> bool:
        done = [cid for cid, f in self._inflight.items() if f.done()]
        for cid in done:
            exc = self._inflight.pop(cid).exception()
            if exc is not None:
                log.error("cluster %s: %s", cid, exc, exc_info=exc)
        return bool(done)

    def _prepare(self) -> None:
        """Hosts and default networks, refreshed now and then."""
        if time.monotonic() - self._hosts_synced > HOST_SYNC_SECONDS:
            hosts.sync_hosts(self.engine)
            self._hosts_synced = time.monotonic()
        if not self._networks_ready:
            used = self.engine.used_subnets() if hasattr(self.engine, "used_subnets") else []
            network.ensure_defaults(self.settings, used)
            if hasattr(self.engine, "ensure_network"):
                # Created now rather than at first use, so that the subnets are taken on
                # the engine before another platform sharing it picks the same ones.
                for net in Network.select():
                    try:
                        self.engine.ensure_network(net.name, net.subnet, net.gateway)
                    except Exception as exc:
                        log.warning("%s", exc)
            self._networks_ready = True

    @contextmanager
    def _leased(self, cid: int):
        """Renew the cluster's lease while working on it; release it afterwards."""
        stop = threading.Event()

        def renew():
            while not stop.wait(self.settings.lease_seconds / 3):
                lease.claim(cid, self.owner, self.settings.lease_seconds)
        renewer = threading.Thread(target=renew, name=f"bdp-fw-lease-{cid}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join()
            lease.release(cid, self.owner)

    def _work(self, cid: int) -> None:
        with self._leased(cid):
            cluster = Cluster.get_or_none(Cluster.id == cid)
            if cluster is None:
                return
            try:
                if cluster.status == DESTROYING:
                    self._destroy(cluster)
                elif cluster.status in (REGISTERED, SCHEDULING):
                    self._schedule(cluster)
            except Exception as exc:
                # Engine or database trouble: say so once and retry on a later pass.
                self._note(cid, f"error, will retry: {exc}", level="error")
                raise
        self.platform.wake(COMPONENT)

    # ------------------------------------------------------------------ scheduling
    def _schedule(self, cluster: Cluster) -> None:
        if cluster.status == REGISTERED and not transition(
                cluster, SCHEDULING, COMPONENT, "placing nodes", expect=REGISTERED):
            return
        nodes = list(Node.select().where(Node.cluster == cluster).order_by(Node.id))
        unplaced = [n for n in nodes if n.host_id is None]
        if unplaced:
            try:
                self._place(cluster, unplaced)
            except Unplaceable as exc:
                self._unplaceable(cluster, str(exc))
                return
            nodes = list(Node.select().where(Node.cluster == cluster).order_by(Node.id))
        todo = [n for n in nodes if n.status != "running"]
        total = len(nodes)
        set_progress(cluster.id, total - len(todo), total)
        if todo:
            try:
                for image in sorted({n.docker_image for n in todo}):
                    self._ensure_image(cluster, image)
                specs = [self._spec(cluster, n) for n in todo]
            except Definite as exc:
                fail(cluster, COMPONENT, str(exc))
                return
            except Exception as exc:  # e.g. the engine not answering for a moment
                log.warning("cluster %s: %s (will retry)", cluster.id, exc)
                self._wait_or_fail(cluster, f"will retry: {exc}")
                return
            if not self._bring_up(cluster, todo, specs, total):
                return
        if transition(cluster, SCHEDULED, COMPONENT, f"{total} nodes running", expect=SCHEDULING,
                      progress=100, step=f"{total}/{total}"):
            self.platform.wake("orchestrator")

    def _place(self, cluster: Cluster, nodes: list[Node]) -> None:
        """Match every node to an offer, then allocate all of it in one transaction."""
        # A container left by a placement that was rolled back would carry stale
        # addresses; the node starts afresh.
        stale = {s.name for s in self.engine.list_nodes() if s.cluster_id == cluster.id}
        for node in nodes:
            if node.name in stale:
                self.engine.remove_node(cluster.id, node.name)
        wanted: dict[int, list[str | None]] = {n.id: [] for n in nodes}  # each disk's origin
        for nd in NodeDisk.select(NodeDisk.node, NodeDisk.origin).where(
                NodeDisk.node.in_([n.id for n in nodes])):
            wanted[nd.node_id].append(nd.origin)
        plan: dict[int, hosts.Offer] = {}
        try:
            with placement_transaction():
                # Offers are read and spent in one transaction, so two clusters placed
                # at once (threads here, or another framework process) cannot both
                # spend the same free cpus and memory.
                offers = hosts.offers()
                for node in nodes:
                    named = [o for o in wanted[node.id] if o is not None]
                    offer = self._match(node, len(wanted[node.id]), offers, placed=len(plan),
                                        named=named, cluster=cluster)
                    offer.cpus -= node.cpu
                    offer.mem -= node.mem
                    offer.disks -= len(wanted[node.id])
                    for name in named:
                        offer.disk_names.remove(name)
                        offer.claimed[name] = node.name
                    plan[node.id] = offer
                for node in nodes:  # named disks first: an unnamed one must not take them
                    if any(wanted[node.id]):
                        disks.allocate(node, plan[node.id].host_id, named_only=True)
                for node in nodes:
                    offer = plan[node.id]
                    disks.allocate(node, offer.host_id)
                    for iface in sorted(node.interfaces, key=lambda i: device_key(i.device)):
                        try:
                            network.allocate(iface)
                        except network.NetworkFull as exc:
                            raise Unplaceable(f"node {node.name} needs an address for "
                                              f"{iface.device}: {exc}") from None
                    Node.update(host=offer.host_id, status="queued", reason="").where(
                        Node.id == node.id).execute()
        except RuntimeError as exc:  # a disk taken by another scheduler meanwhile
            raise Unplaceable(str(exc)) from None
        record(cluster.id, COMPONENT, "placed " + ", ".join(
            f"{n.name} on {plan[n.id].host}" for n in nodes))

    @staticmethod
    def _match(node: Node, ndisks: int, offers: list[hosts.Offer], placed: int,
               named: list[str] = (), cluster: Cluster | None = None) -> hosts.Offer:
        candidates = offers
        if node.required_host:
            candidates = [o for o in offers if o.host == node.required_host]
            if not candidates:
                names = ", ".join(o.host for o in offers) or "none"
                raise Unplaceable(f"node {node.name} requires host {node.required_host}, "
                                  f"which does not exist (hosts: {names})")
        if not candidates:
            raise Unplaceable(f"node {node.name}: no host is available")
        if len(set(named)) < len(named):  # the template check refuses this; rows may not
            raise Unplaceable(f"node {node.name} names one host disk for two of its disks")
        for name in named:
            having = [o for o in candidates if name in o.disk_names]
            if not having:
                raise Unplaceable(_named_disk_missing(node, name, candidates, cluster))
            candidates = having
        fits = [o for o in candidates if o.cpus >= node.cpu - 1e-9 and o.mem >= node.mem
                and o.disks >= ndisks]
        if fits:
            return max(fits, key=lambda o: (o.cpus, o.mem))  # spread over hosts
        after = f" (after placing {placed} other nodes of this cluster)" if placed else ""
        for attr, need, unit in (("cpus", node.cpu, "cpus"), ("mem", node.mem, "MB of memory"),
                                 ("disks", ndisks, "disks")):
            if all(getattr(o, attr) < need - 1e-9 for o in candidates):
                best = max(candidates, key=lambda o: getattr(o, attr))
                raise Unplaceable(f"node {node.name} needs {_num(need)} {unit}; largest free offer: "
                                  f"{_num(max(getattr(best, attr), 0))} {unit} on host {best.host}{after}")
        free = "; ".join(f"{o.host}: {_num(o.cpus)} cpus, {o.mem} MB, {o.disks} disks" for o in candidates)
        raise Unplaceable(f"node {node.name} needs {_num(node.cpu)} cpus, {node.mem} MB and {ndisks} "
                          f"disks on one host; free offers: {free}{after}")

    def _unplaceable(self, cluster: Cluster, problem: str) -> None:
        self._wait_or_fail(cluster, f"waiting for resources: {problem}",
                           f"could not place the cluster within {self.settings.scheduling_timeout:g}s: {problem}")

    def _wait_or_fail(self, cluster: Cluster, note: str, reason: str | None = None) -> None:
        """Say (once) why the cluster waits; past the scheduling timeout, fail it."""
        waited = (utcnow() - cluster.status_since).total_seconds()
        if waited >= self.settings.scheduling_timeout:
            fail(cluster, COMPONENT, reason or f"gave up after {self.settings.scheduling_timeout:g}s: {note}")
        else:
            self._note(cluster.id, note, level="warning")

    def _note(self, cid: int, message: str, level: str = "info") -> None:
        """Record an event unless this very message is already the cluster's latest
        from the framework: a waiting cluster says so once, not once per pass."""
        last = (Event.select(Event.message).where((Event.cluster == cid) & (Event.component == COMPONENT))
                .order_by(Event.id.desc()).first())
        if last is None or last.message != message:
            record(cid, COMPONENT, message, level=level)

    # ------------------------------------------------------------------ images
    def _ensure_image(self, cluster: Cluster, image: str) -> None:
        if image in self._images_ok or self.engine.name != "docker":
            return
        from api.engines import images
        if images.image_exists(image):
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
            raise Definite(f"image {image} is not on the engine and no product bundle under "
                               f"{self.settings.products_dir} builds it")
        record(cluster.id, COMPONENT, f"building image {image}")
        started = time.monotonic()
        try:
            build()
        except Exception as exc:
            # Not retried: a build that failed would fail again on every pass.
            raise Definite(f"building image {image} failed: {exc}") from None
        record(cluster.id, COMPONENT, f"built image {image} in {time.monotonic() - started:.0f}s")
        self._images_ok.add(image)

    def _bundle_dir(self, cluster: Cluster, name: str, version: str) -> Path | None:
        from api.engines.images import product_image_tag
        root = Path(self.settings.products_dir)
        for cand in (root / name / version, root / cluster.product.name / cluster.product.version):
            if (cand / "image" / "Dockerfile").is_file() and \
                    product_image_tag(cand.parent.name, cand.name) == f"bdp/{name}:{version}":
                return cand
        return None

    # ------------------------------------------------------------------ starting
    def _spec(self, cluster: Cluster, node: Node) -> NodeSpec:
        interfaces = []
        for iface in sorted(Interface.select(Interface, Network).join(Network)
                            .where(Interface.node == node), key=lambda i: device_key(i.device)):
            net = iface.network
            interfaces.append(InterfaceSpec(iface.device, net.name, net.subnet, net.gateway,
                                            iface.address))
        mounts = []
        for nd in NodeDisk.select().where(NodeDisk.node == node).order_by(NodeDisk.name):
            if nd.disk_id is None:
                raise Definite(f"node {node.name}: disk {nd.name} has no host disk")
            mounts.append(MountSpec(str(disks.origin_dir(nd.disk, cluster, node.name)),
                                    nd.destination, "ro" if nd.mode == "ro" else "rw"))
        keys = "\n".join(sshkeys.authorized_keys(self.settings, cluster))
        return NodeSpec(cluster_id=cluster.id, cluster_dn=cluster.dn, name=node.name,
                        host=node.host.name, image=node.docker_image, cpu=node.cpu, mem=node.mem,
                        docker_opts=node.docker_opts or "", interfaces=interfaces, mounts=mounts,
                        env={"BDP_AUTHORIZED_KEYS": keys})

    def _bring_up(self, cluster: Cluster, nodes: list[Node], specs: list[NodeSpec],
                  total: int) -> bool:
        """Start the nodes in parallel; True when every one runs and answers."""
        deadline = time.monotonic() + self.settings.start_timeout
        abort = threading.Event()
        futures = {self._starts.submit(self._start_node, cluster, node, spec, deadline, abort): node
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
                    set_progress(cluster.id, running, total)
                elif reason == ABANDONED:
                    abort.set()
                    failure = failure or reason
                elif failure is None or failure == ABANDONED:
                    failure = reason
                    Node.update(status="failed", reason=reason).where(Node.id == node.id).execute()
                    abort.set()
        if failure and failure != ABANDONED:
            fail(cluster, COMPONENT, failure)
        return failure is None

    def _start_node(self, cluster: Cluster, node: Node, spec: NodeSpec, deadline: float,
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
                if state.state in ("exited", "missing", "failed"):
                    what = "disappeared" if state.state == "missing" else "exited"
                    return f"node {node.name}'s container {what} while starting: {state.logs}".strip()
                if answering and state.state == "running":
                    Node.update(status="running", reason="").where(Node.id == node.id).execute()
                    return None
            if time.monotonic() > deadline:
                return (f"node {node.name}: port(s) {', '.join(map(str, ports))} on {address} did "
                        f"not accept connections within {self.settings.start_timeout:g}s")
            if polls % 10 == 9 and Cluster.get_by_id(cluster.id).status != SCHEDULING:
                return ABANDONED
            polls += 1
            time.sleep(PORT_POLL)
        return ABANDONED

    # ------------------------------------------------------------------ destroying
    def _destroy(self, cluster: Cluster) -> None:
        names = {n.name for n in Node.select(Node.name).where(Node.cluster == cluster)}
        names |= {s.name for s in self.engine.list_nodes() if s.cluster_id == cluster.id}
        for future in [self._starts.submit(self.engine.remove_node, cluster.id, name)
                       for name in sorted(names)]:
            future.result()
        with network.write_transaction():
            addresses = network.release_cluster(cluster.id)
            freed = disks.release_cluster(cluster)
            Node.update(status="destroyed").where(Node.cluster == cluster).execute()
        sshkeys.remove_cluster_key(self.settings, cluster.id)
        shutil.rmtree(self.settings.runs_dir / str(cluster.id), ignore_errors=True)
        transition(cluster, DESTROYED, COMPONENT,
                   f"{len(names)} containers removed, {addresses} addresses and {freed} disks released",
                   expect=DESTROYING, progress=100)

    # ------------------------------------------------------------------ watching
    def _survey(self) -> bool:
        """One look at this platform's containers: reap orphans, notice dead nodes."""
        self._surveyed = time.monotonic()
        states = self.engine.list_nodes()
        reaped = self._reap_orphans(states)
        return self._watch(states) or reaped

    def _reap_orphans(self, states) -> bool:
        """Remove containers of this platform whose cluster is destroyed or unknown."""
        reaped = False
        for state in states:
            cluster = Cluster.get_or_none(Cluster.id == state.cluster_id) \
                if state.cluster_id is not None else None
            if cluster is None or cluster.status == DESTROYED:
                log.info("removing orphan container %s (cluster %s)", state.container_id[:12],
                         state.cluster_id)
                if hasattr(self.engine, "remove_container"):
                    self.engine.remove_container(state.container_id)
                else:
                    self.engine.remove_node(state.cluster_id, state.name)
                reaped = True
        return reaped

    def _watch(self, states) -> bool:
        """Running nodes of scheduled-or-later clusters whose container is gone or exited."""
        alive = {(s.cluster_id, s.name) for s in states if s.state in ("running", "starting")}
        rows = (Node.select(Node.id, Node.name, Node.cluster).join(Cluster)
                .where((Node.status == "running") & Cluster.status.in_(WATCHED)))
        dead = {n.id: n for n in rows if (n.cluster_id, n.name) not in alive}
        # Acted on when seen dead on two surveys in a row: an engine's view can be briefly
        # incomplete (Mesos answers reconciliation a task at a time after a restart).
        suspects, self._suspects = self._suspects, set(dead)
        did = False
        for node_id, node in dead.items():
            if node_id in suspects:
                did = self._node_died(node) or did
        return did

    def _node_died(self, node: Node) -> bool:
        state = self.engine.node_state(node.cluster_id, node.name)  # for the reason (logs)
        if state.state in ("running", "starting"):
            return False
        what = {"missing": "'s container disappeared", "exited": "'s container exited"}.get(
            state.state, " failed")
        reason = f"node {node.name}{what}" + (f": {state.logs}" if state.logs else "")
        watched = Cluster.select(Cluster.id).where(Cluster.status.in_(WATCHED))
        with network.write_transaction():
            # Conditional, so a cluster a DELETE reached meanwhile is left to the destroy.
            changed = Node.update(status="failed", reason=reason).where(
                (Node.id == node.id) & (Node.status == "running") & Node.cluster.in_(watched)
            ).execute()
            if changed:
                log.warning("cluster %s: %s", node.cluster_id, reason)
                record(node.cluster_id, COMPONENT, reason, level="error")
                fail(node.cluster_id, COMPONENT, reason, expect=FAIL_ON_DEAD_NODE)
        return bool(changed)

"""The framework's controller loop: places cluster nodes on hosts and runs them (the
seed's Mesos scheduler). The steps are modules of their own: placement (a pure
function, with feasible.py's filters), allocation, launch and survey.

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
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager

from api.clusters import keys as sshkeys
from api.core import lease
from api.core import status as st
from api.core.errors import Permanent
from api.core.models import Cluster, Event, Network, Node, utcnow
from api.core.status import NodeStatus
from api.engines.base import Capability
from api.framework import allocation
from api.framework.launch import Launcher
from api.framework.placement import Unplaceable
from api.framework.survey import Survey
from api.infra import disk as disks
from api.infra import host as hosts
from api.infra import network

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
HOST_SYNC_SECONDS = 30
SURVEY_SECONDS = 3  # how often the engine is asked which node containers exist


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
        self._networks_ready = False
        self.launcher = Launcher(platform, self._starts)
        self.survey = Survey(platform)

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
        self.close(wait=False)

    def close(self, wait: bool = True) -> None:
        """Stop the worker pools (waiting for the work under way, unless told not to)."""
        self._clusters.shutdown(wait=wait, cancel_futures=not wait)
        self._starts.shutdown(wait=wait, cancel_futures=not wait)

    def step(self, wait: bool = True) -> bool:
        """One pass. With `wait` (the default, for tests and one-shot use) it returns
        when the work it started is done; `run` does not wait, so a slow cluster (an
        image build, a slow node) never holds up the others."""
        did = self._collect()
        self._prepare()
        for cid in lease.claimable(st.FRAMEWORK_CLAIMS, self.owner):
            if cid in self._inflight:
                continue
            if not lease.claim(cid, self.owner, self.settings.lease_seconds,
                               statuses=st.FRAMEWORK_CLAIMS):
                continue
            self._inflight[cid] = self._clusters.submit(self._work, cid)
            did = True
        if time.monotonic() - self._surveyed >= self.survey_seconds:
            self._surveyed = time.monotonic()
            did = self.survey() or did
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
            network.ensure_defaults(self.settings, self.engine.used_subnets())
            if Capability.NETWORKS in self.engine.capabilities:
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
                if cluster.status == st.DESTROYING:
                    self._destroy(cluster)
                elif cluster.status in (st.REGISTERED, st.SCHEDULING):
                    self._schedule(cluster)
            except Exception as exc:
                # Engine or database trouble: say so once and retry on a later pass.
                self._note(cid, f"error, will retry: {exc}", level="error")
                raise
        self.platform.wake(COMPONENT)

    # ------------------------------------------------------------------ scheduling
    def _schedule(self, cluster: Cluster) -> None:
        if cluster.status == st.REGISTERED and not st.transition(
                cluster, st.SCHEDULING, COMPONENT, "placing nodes", expect=st.REGISTERED):
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
        todo = [n for n in nodes if n.status != NodeStatus.RUNNING]
        total = len(nodes)
        st.set_progress(cluster.id, total - len(todo), total)
        if todo:
            try:
                for image in sorted({n.docker_image for n in todo}):
                    self.launcher.ensure_image(cluster, image)
                specs = [self.launcher.spec(cluster, n) for n in todo]
            except Permanent as exc:
                st.fail(cluster, COMPONENT, str(exc))
                return
            except Exception as exc:  # e.g. the engine not answering for a moment
                log.warning("cluster %s: %s (will retry)", cluster.id, exc)
                self._wait_or_fail(cluster, f"will retry: {exc}")
                return
            if not self.launcher.bring_up(cluster, todo, specs, total):
                return
        if st.transition(cluster, st.SCHEDULED, COMPONENT, f"{total} nodes running",
                         expect=st.SCHEDULING, progress=100, step=f"{total}/{total}"):
            self.platform.wake("orchestrator")

    def _place(self, cluster: Cluster, nodes: list[Node]) -> None:
        """Place and allocate `nodes` (all or nothing); Unplaceable when they do not fit."""
        # A container left by a placement that was rolled back would carry stale
        # addresses; the node starts afresh.
        stale = {s.name for s in self.engine.list_nodes() if s.cluster_id == cluster.id}
        for node in nodes:
            if node.name in stale:
                self.engine.remove_node(cluster.id, node.name)
        plan = allocation.place_cluster(cluster, nodes)
        st.record(cluster.id, COMPONENT, "placed " + ", ".join(
            f"{n.name} on {plan[n.name].host}" for n in nodes))

    def _unplaceable(self, cluster: Cluster, problem: str) -> None:
        self._wait_or_fail(cluster, f"waiting for resources: {problem}",
                           f"could not place the cluster within {self.settings.scheduling_timeout:g}s: {problem}")

    def _wait_or_fail(self, cluster: Cluster, note: str, reason: str | None = None) -> None:
        """Say (once) why the cluster waits; past the scheduling timeout, fail it."""
        waited = (utcnow() - cluster.status_since).total_seconds()
        if waited >= self.settings.scheduling_timeout:
            st.fail(cluster, COMPONENT, reason or f"gave up after {self.settings.scheduling_timeout:g}s: {note}")
        else:
            self._note(cluster.id, note, level="warning")

    def _note(self, cid: int, message: str, level: str = "info") -> None:
        """Record an event unless this very message is already the cluster's latest
        from the framework: a waiting cluster says so once, not once per pass."""
        last = (Event.select(Event.message).where((Event.cluster == cid) & (Event.component == COMPONENT))
                .order_by(Event.id.desc()).first())
        if last is None or last.message != message:
            st.record(cid, COMPONENT, message, level=level)

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
            Node.update(status=NodeStatus.DESTROYED).where(Node.cluster == cluster).execute()
        sshkeys.remove_cluster_key(self.settings, cluster.id)
        shutil.rmtree(self.settings.runs_dir / str(cluster.id), ignore_errors=True)
        st.transition(cluster, st.DESTROYED, COMPONENT,
                      f"{len(names)} containers removed, {addresses} addresses and {freed} disks released",
                      expect=st.DESTROYING, progress=100)

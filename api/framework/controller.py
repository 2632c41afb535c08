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
from api.engines.base import Capability, SubnetTaken
from api.framework import allocation, changes, release, teardown
from api.framework.host_monitor import HostMonitor
from api.framework.launch import Launcher
from api.framework.placement import Unplaceable
from api.framework.survey import Survey
from api.infra import host as hosts
from api.infra import network

log = logging.getLogger("bdp.framework")
COMPONENT = "framework"
HOST_SYNC_SECONDS = 30
SURVEY_SECONDS = 3  # how often the engine is asked which node containers exist


class Framework:
    name = "framework"

    def __init__(self, platform, max_clusters: int = 8, max_starts: int = 64):
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
        self.monitor = HostMonitor(platform)
        self._monitor_thread: threading.Thread | None = None

    @property
    def engine(self):
        return self.platform.engine

    # ------------------------------------------------------------------ loop
    def run(self, stop: threading.Event) -> None:
        log.info("framework %s running", self.owner)
        self._monitor_thread = threading.Thread(target=self.monitor.run, args=(stop,),
                                                name="bdp-fw-hosts", daemon=True)
        self._monitor_thread.start()
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
        # Failed clusters still holding resources give them back (api/framework/release.py).
        # So do clusters at rest whose operations ask for node changes (changes.py).
        for cid in (lease.claimable(st.FRAMEWORK_CLAIMS, self.owner) + release.pending(self.owner)
                    + changes.pending(self.owner)):
            if cid in self._inflight:
                continue
            if not lease.claim(cid, self.owner, self.settings.lease_seconds,
                               statuses=st.FRAMEWORK_CLAIMS | {st.FAILED} | st.AT_REST):
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
        """Hosts and default networks, refreshed now and then (the host monitor's thread
        probes hosts while `run` runs; stepped by hand, hosts are synced here)."""
        monitored = self._monitor_thread is not None and self._monitor_thread.is_alive()
        if not monitored and time.monotonic() - self._hosts_synced > HOST_SYNC_SECONDS:
            hosts.sync_hosts(self.engine)
            self._hosts_synced = time.monotonic()
        if not monitored:
            self.monitor.judge()
        if not self._networks_ready:
            self._default_networks()
            self._networks_ready = True

    def _default_networks(self, attempts: int = 5) -> None:
        """The default networks, each taken on the engine now rather than at first use,
        so that another platform sharing the engine does not pick the same subnets. One
        that did pick the same between our look and our creation (two platforms starting
        at once; seen) makes ours overlap: that network, new and unused, is picked again."""
        used = self.engine.used_subnets()
        picked = {name for name, _, setting in network.DEFAULT_NETWORKS
                  if not getattr(self.settings, setting, "")}
        for _ in range(attempts):
            created = network.ensure_defaults(self.settings, used, self.settings.default_isolation)
            if Capability.NETWORKS not in self.engine.capabilities:
                return
            fresh = {net.id for net in created if net.name in picked}
            lost = []
            for net in Network.select():
                try:
                    self._reserve(net)
                except SubnetTaken as exc:
                    log.warning("%s", exc)
                    if net.id in fresh:
                        lost.append(net)
                except Exception as exc:
                    log.warning("%s", exc)
            lost += self._overlapped([n for n in created if n.id in fresh and n not in lost])
            if not lost:
                return
            taken = [net.subnet for net in lost]
            for net in lost:
                log.warning("network %s: %s was taken meanwhile on the engine; picking another",
                            net.name, net.subnet)
                net.delete_instance(recursive=True)
            used = self.engine.used_subnets() + taken

    def _overlapped(self, fresh: list[Network]) -> list[Network]:
        """Fresh tenant pools another platform's network lies in: only the pool's last
        slice is reserved on the engine, so docker cannot refuse an overlap elsewhere in
        it; a fresh pool holds nothing else of ours yet."""
        from api.infra import segments
        pools = [n for n in fresh if n.isolation == segments.TENANT]
        if not pools:
            return []
        used = self.engine.used_subnets()
        return [n for n in pools if network._overlaps(n.subnet, [
            s for s in used if s not in (n.subnet, str(segments.reserved_slice(n)))])]

    def _reserve(self, net: Network) -> None:
        """Take a network's subnet on the platform's engine: a shared bridge network is
        made whole; a tenant pool is marked by a network on its reserved last slice,
        labelled with the whole pool."""
        from api.engines.base import InterfaceSpec
        from api.infra import segments
        if net.isolation == segments.TENANT:
            mark = segments.reserved_slice(net)
            if mark is not None:
                iface = InterfaceSpec("", net.name, str(mark), str(mark.network_address + 1), "",
                                      segment=segments.RESERVED, pool=net.subnet)
                self.engine.ensure_network(net.name, iface.subnet, iface.gateway, iface=iface)
        elif net.driver == "bridge":
            self.engine.ensure_network(net.name, net.subnet, net.gateway)

    @contextmanager
    def _leased(self, cid: int):
        """Renew the cluster's lease while working on it; release it afterwards."""
        stop = threading.Event()

        def renew():
            while not stop.wait(self.settings.lease_seconds / 3):
                lease.renew(cid, self.owner, self.settings.lease_seconds)
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
                elif cluster.status == st.FAILED:
                    release.release(self.engine, cluster, self._starts)
                elif cluster.status in st.AT_REST:
                    changes.apply(self, cluster)
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
                members: dict = {}
                specs = [self.launcher.spec(cluster, n, members) for n in todo]
                self.launcher.get_ready(cluster, todo, specs)
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
                         expect=st.SCHEDULING, progress=100, step=f"{total}/{total}", reason=""):
            self.platform.wake("orchestrator")

    def _place(self, cluster: Cluster, nodes: list[Node]) -> None:
        """Place and allocate `nodes` (all or nothing); Unplaceable when they do not fit."""
        # A container left by a placement that was rolled back would carry stale
        # addresses; the node starts afresh.
        stale = {s.name for s in self.engine.list_nodes() if s.cluster_id == cluster.id}
        for node in nodes:
            if node.name in stale:
                self.engine.remove_node(cluster.id, node.name)
        plan = allocation.place_cluster(cluster, nodes,
                                        vni_from=self.settings.vni_base)
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
            # The cluster view says why it waits too, not only its events; written when it
            # changes only (a waiting cluster's row is not rewritten on every pass).
            Cluster.update(reason=note).where((Cluster.id == cluster.id) & (Cluster.reason != note)
                                              & (Cluster.status == st.SCHEDULING)).execute()

    def _note(self, cid: int, message: str, level: str = "info") -> None:
        """Record an event unless this very message is already the cluster's latest
        from the framework: a waiting cluster says so once, not once per pass."""
        last = (Event.select(Event.message).where((Event.cluster == cid) & (Event.component == COMPONENT))
                .order_by(Event.id.desc()).first())
        if last is None or last.message != message:
            st.record(cid, COMPONENT, message, level=level)

    # ------------------------------------------------------------------ destroying
    def _destroy(self, cluster: Cluster) -> None:
        """Remove the containers, delete the disk data, release addresses and disks; for
        nodes whose host is away (lost, or silent now) only the registry's part: their
        container, data, disks and addresses go when the host answers again
        (recovery.clean_pending), so nothing leaks and nothing is handed out early."""
        def mark(_done):
            Node.update(status=NodeStatus.DESTROYED).where(Node.cluster == cluster).execute()
        done = teardown.take_down(self.engine, cluster, self._starts, mark)
        self.survey.converge()  # the cluster's segments go where nothing else uses them
        sshkeys.remove_cluster_key(self.settings, cluster.id)
        shutil.rmtree(self.settings.runs_dir / str(cluster.id), ignore_errors=True)
        message = (f"{done.removed} containers removed, {done.addresses} addresses "
                   f"and {done.disks} disks released") + done.away_note("removed")
        st.transition(cluster, st.DESTROYED, COMPONENT, message, expect=st.DESTROYING, progress=100)

"""The orchestrator: configures scheduled clusters with their product's Ansible playbook.

Level-triggered like the framework. Each pass claims (with a lease) one cluster that is
`scheduled`, or `configuring`/`configured` with nobody holding it (its orchestrator
died: the run is redone, playbooks being idempotent), and then:

    configuring -> ansible-runner, tag `start` -> configured
                -> tag `status`, retried within settings.ready_timeout -> ready

A failing task ends in `failed` with the host, task and message in the reason. Every
run is a `Run` row (stdout and per-task events) that `GET .../logs` serves.

Day-2 operations (start, stop, restart, status, resize...) are run by the operations
executor (operations.py), under the same leases, so an operation and a configuration
never overlap on one cluster.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from api.core import lease
from api.core import status as st
from api.core.models import Cluster
from api.orchestrator.runner import PlaybookRunner, RunResult, remove_finished_run_dirs

log = logging.getLogger(__name__)

COMPONENT = "orchestrator"
# Statuses the orchestrator picks up on its own (the last two only when nobody holds them).
PENDING = st.ORCHESTRATOR_CLAIMS
STATUS_RETRY_PAUSE = 2.0
MAX_PARALLEL = 4  # clusters configured at once by one orchestrator process


class Orchestrator:
    name = COMPONENT

    def __init__(self, platform, owner: str | None = None):
        self.platform = platform
        self.settings = platform.settings
        self.owner = owner or lease.new_owner(COMPONENT)
        self._stopping = threading.Event()
        self.runner = PlaybookRunner(self.settings, self.owner, self._stopping)

    def run_playbook(self, cluster: Cluster, tag: str) -> RunResult:
        return self.runner.run(cluster, tag)

    # --- the controller loop ----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Configure up to `MAX_PARALLEL` clusters at once, each in a worker thread, so
        one slow playbook does not hold up every other launch."""
        inflight: dict[int, Future] = {}
        try:
            removed = remove_finished_run_dirs(self.settings.runs_dir)
            if removed:
                log.info("removed %d run directories left by a stopped orchestrator", removed)
        except Exception:  # the database may be briefly unavailable: not worth stopping for
            log.exception("cannot clean the run directories")
        with ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix="orchestrator") as pool:
            while not stop.is_set():
                for cluster_id in [c for c, f in inflight.items() if f.done()]:
                    error = inflight.pop(cluster_id).exception()
                    if error is not None:
                        log.error("configuring cluster %s failed: %r", cluster_id, error)
                started = False
                try:
                    for cluster_id in self._claim(MAX_PARALLEL - len(inflight), skip=set(inflight)):
                        inflight[cluster_id] = pool.submit(self._configure_claimed, cluster_id)
                        started = True
                except Exception:  # the database may be briefly unavailable: poll again
                    log.exception("orchestrator pass failed")
                if not started:
                    self.platform.wait(COMPONENT, self.settings.poll_interval)
            # Stopping: cancel the playbooks still running; their clusters stay
            # `configuring` and the next orchestrator redoes them.
            self._stopping.set()

    def step(self) -> bool:
        """One pass, in the caller's thread: configure one pending cluster, if any."""
        for cluster_id in self._claim(1):
            self._configure_claimed(cluster_id)
            return True
        return False

    def _claim(self, limit: int, skip: set[int] = frozenset()) -> list[int]:
        claimed = []
        for cluster_id in lease.claimable(PENDING, self.owner):
            if len(claimed) >= limit:
                break
            if cluster_id not in skip and lease.claim(cluster_id, self.owner,
                                                      self.settings.lease_seconds, PENDING):
                claimed.append(cluster_id)
        return claimed

    def _configure_claimed(self, cluster_id: int) -> None:
        try:
            self.configure(Cluster.get_by_id(cluster_id))
        finally:
            lease.release(cluster_id, self.owner)
            self.platform.wake(COMPONENT)

    def configure(self, cluster: Cluster) -> None:
        """Bring a claimed cluster from scheduled (or an interrupted run) to ready."""
        self.runner.close_interrupted_runs(cluster)
        if cluster.status == st.SCHEDULED:
            if not st.transition(cluster, st.CONFIGURING, COMPONENT, "running the playbook (start)",
                                 expect=st.SCHEDULED):
                return
        elif cluster.status == st.CONFIGURING:
            st.record(cluster.id, COMPONENT, "an orchestrator stopped during configuration: "
                                             "running the playbook (start) again")
        if cluster.status == st.CONFIGURING:
            result = self.run_playbook(cluster, "start")
            if result.cancelled:
                return
            if not result.ok:
                st.fail(cluster, COMPONENT, result.reason)
                return
            if not st.transition(cluster, st.CONFIGURED, COMPONENT, "playbook (start) succeeded",
                                 expect=st.CONFIGURING):
                return
        self.wait_ready(cluster)

    def wait_ready(self, cluster: Cluster) -> None:
        """The readiness check: tag `status`, retried until it passes or ready_timeout."""
        deadline = time.monotonic() + self.settings.ready_timeout
        while True:
            result = self.run_playbook(cluster, "status")
            if result.cancelled:
                return
            if result.ok:
                st.transition(cluster, st.READY, COMPONENT, "readiness check passed",
                              expect=st.CONFIGURED, reason="")
                return
            if result.playbook_error:
                # Waiting cannot cure a broken status play: say what is wrong now.
                st.fail(cluster, COMPONENT, f"the readiness check cannot pass: {result.reason}")
                return
            if time.monotonic() + STATUS_RETRY_PAUSE >= deadline:
                st.fail(cluster, COMPONENT, f"not ready after {self.settings.ready_timeout:g}s: "
                                            f"{result.reason}")
                return
            st.set_reason(cluster.id, f"waiting to be ready: {result.reason}")  # shown while it waits
            time.sleep(STATUS_RETRY_PAUSE)
            if not lease.claim(cluster.id, self.owner, self.settings.lease_seconds, {st.CONFIGURED}):
                return

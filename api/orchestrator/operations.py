"""The operations executor: runs the operations queued on clusters (issue 12).

A controller of its own, beside the orchestrator's configuring loop and in the same
component (operations are mostly playbook runs, and controllers never import each
other). Each pass takes every cluster's head operation (api/clusters/operations.py) that
may start now (its cluster at rest: `ready` or `stopped`; a repair also from `failed`)
and runs it in a worker thread, so different clusters' operations run in parallel and
one cluster's one at a time, in order. An operation is held with a lease on its Job row,
renewed while it runs; the cluster's lease is taken only while a playbook runs, so the
framework can take it in between to add, remove or recreate nodes (api/framework/changes.py),
which an operation asks for by writing node statuses and waits for in the registry.

Killed at any moment, an executor leaves its operation `running` with a lease that runs
out; the next executor takes it over and resumes it from what the registry says (each
handler is written to be run again: playbooks are idempotent, resize and replace keep
their phase in the operation's result). The handlers are in op_playbook.py and op_nodes.py.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

from api.clusters import operations
from api.core import lease
from api.core import status as st
from api.core.models import Cluster, Job
from api.core.status import OperationStatus
from api.orchestrator import housekeeping
from api.orchestrator.runner import PlaybookRunner, RunResult

log = logging.getLogger("bdp.operations")
COMPONENT = "operations"
MAX_PARALLEL = 8  # clusters whose operations one executor runs at once
STATUS_RETRY_PAUSE = 2.0
WAIT_POLL = 0.5


class Stopped(Exception):
    """The operation cannot go on here: the executor is stopping, lost the operation,
    or its cluster is being destroyed (`cancel` says which)."""

    def __init__(self, reason: str = "", cancel: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.cancel = cancel


class Operations:
    name = COMPONENT

    def __init__(self, platform, owner: str | None = None):
        self.platform = platform
        self.settings = platform.settings
        self.owner = owner or lease.new_owner(COMPONENT)
        self.stopping = threading.Event()
        self.runner = PlaybookRunner(self.settings, self.owner, self.stopping)
        self._inflight: dict[int, Future] = {}  # by cluster id
        self.auto_replace = housekeeping.AutoReplace(self.settings.replace_grace)

    # --- the controller loop ------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        with ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix="bdp-op") as pool:
            while not stop.is_set():
                started = False
                try:
                    started = self.dispatch(pool.submit)
                except Exception:  # the database may be briefly unavailable: poll again
                    log.exception("operations pass failed")
                if not started:
                    self.platform.wait(COMPONENT, self.settings.poll_interval)
            self.stopping.set()

    def step(self) -> bool:
        """One pass in the caller's thread, running what it starts to the end (tests)."""
        return self.dispatch(lambda fn, *args: fn(*args))

    def dispatch(self, submit) -> bool:
        """Start every head operation that may start now; True if any did."""
        for cid in [c for c, f in self._inflight.items() if f.done()]:
            error = self._inflight.pop(cid).exception()
            if error is not None:
                log.error("operation on cluster %s: %r", cid, error)
        if housekeeping.expire():
            self.platform.wake("framework")
        self.auto_replace()
        operations.settle()
        started = False
        for job in operations.heads():
            if job.cluster_id in self._inflight or not operations.free(job, self.owner):
                continue
            if not self._may_start(job):
                continue
            resumed = job.status == OperationStatus.RUNNING
            if operations.claim(job.id, self.owner, self.settings.lease_seconds):
                future = submit(self.execute, job.id, resumed)
                if isinstance(future, Future):
                    self._inflight[job.cluster_id] = future
                started = True
        return started

    @staticmethod
    def _may_start(job: Job) -> bool:
        status = job.cluster.status
        if status in st.GONE:
            return False
        if job.status == OperationStatus.RUNNING or job.kind == "extend":
            return True  # resumed where it was; an extension applies in any status
        if job.kind == "repair":
            return status in st.REPAIR_FROM
        return status in st.AT_REST

    def execute(self, job_id: int, resumed: bool = False) -> None:
        from api.orchestrator import op_nodes, op_playbook
        handlers = {**{op: op_playbook.run for op in operations.PLAYBOOK_OPS},
                    "repair": op_playbook.repair, "resize": op_nodes.resize,
                    "replace": op_nodes.replace, "extend": op_playbook.extend,
                    "keys": op_playbook.keys}
        job = Job.get_by_id(job_id)
        with self._held(job):
            try:
                if resumed:
                    st.record(job.cluster_id, COMPONENT, f"operation {job.kind} #{job.id} resumed: the "
                              "executor that ran it stopped")
                    self.runner.close_interrupted_runs(Cluster.get_by_id(job.cluster_id))
                else:  # queued, started and finished are each an event (and so on the streams)
                    st.record(job.cluster_id, COMPONENT, f"operation {job.kind} #{job.id} started")
                handlers[job.kind](self, job, resumed)
            except Stopped as exc:
                if exc.cancel:
                    operations.finish(job, OperationStatus.CANCELLED, exc.reason)
                # else: left running for the next executor (its lease is let go below)
            except Exception as exc:  # a bug or the database: the operation says so
                log.exception("operation %s #%s", job.kind, job.id)
                if not self.stopping.is_set():
                    operations.finish(job, OperationStatus.FAILED, f"{job.kind}: {exc}")
        self.platform.wake(COMPONENT)

    @contextmanager
    def _held(self, job: Job):
        """Renew the operation's lease while it runs; let it go when the executor stops."""
        done = threading.Event()

        def renew():
            while not done.wait(self.settings.lease_seconds / 3):
                if not operations.renew(job.id, self.owner, self.settings.lease_seconds):
                    return
        renewer = threading.Thread(target=renew, name=f"bdp-op-lease-{job.id}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            operations.let_go(job.id, self.owner)

    # --- what handlers use ---------------------------------------------------------------
    def check(self, job: Job) -> Cluster:
        """The cluster, now; Stopped when the operation cannot go on."""
        cluster = Cluster.get_by_id(job.cluster_id)
        if cluster.status in st.GONE:
            raise Stopped(f"the cluster is {cluster.status}", cancel=True)
        if self.stopping.is_set():
            raise Stopped("the executor is stopping")
        return cluster

    def wait(self, job: Job, done, timeout: float, what: str):
        """Poll `done()` (truthy: the answer) until `timeout`; Stopped on the way."""
        deadline = time.monotonic() + timeout
        while True:
            self.check(job)
            answer = done()
            if answer:
                return answer
            if time.monotonic() > deadline:
                return None
            operations.progress(job.id, what)
            self.stopping.wait(WAIT_POLL)

    @contextmanager
    def cluster_lease(self, job: Job, statuses: set[str] = st.AT_REST):
        """Hold the cluster's lease (waiting while another component has it)."""
        waited = self.settings.lease_seconds * 2 + 30
        got = self.wait(job, lambda: lease.claim(job.cluster_id, self.owner, self.settings.lease_seconds,
                                                 statuses), waited, "waiting for the cluster")
        if not got:
            cluster = Cluster.get_by_id(job.cluster_id)
            raise RuntimeError(f"the cluster stayed busy (or {cluster.status}) for {waited:g}s")
        try:
            yield Cluster.get_by_id(job.cluster_id)
        finally:
            lease.release(job.cluster_id, self.owner)

    def playbook(self, job: Job, cluster: Cluster, tag: str, percent: int,
                 groups: dict | None = None, extravars: dict | None = None,
                 playbook=None) -> RunResult:
        """Run the product playbook (or the platform's `playbook`) with `tag` (the caller
        holds the cluster's lease)."""
        operations.progress(job.id, f"running the playbook ({tag})", percent)
        result = self.runner.run(cluster, tag, groups, extravars, playbook)
        Job.update(run=result.run.id).where(Job.id == job.id).execute()
        if result.cancelled:
            self.check(job)  # destroyed, or stopping
            raise RuntimeError(f"the playbook run ({tag}) was cancelled: the cluster's lease was lost")
        return result

    def until_ready(self, job: Job, cluster: Cluster, percent: int) -> RunResult:
        """Tag `status`, retried until it passes or ready_timeout (lease held)."""
        deadline = time.monotonic() + self.settings.ready_timeout
        while True:
            result = self.playbook(job, cluster, "status", percent)
            if result.ok or result.playbook_error or time.monotonic() + STATUS_RETRY_PAUSE >= deadline:
                return result
            operations.progress(job.id, f"waiting to be ready: {result.reason}")
            self.stopping.wait(STATUS_RETRY_PAUSE)
            self.check(job)
            lease.renew(cluster.id, self.owner, self.settings.lease_seconds, st.RUN_HOLDS)

    def succeed(self, job: Job, result=None, message: str = "") -> None:
        operations.finish(job, OperationStatus.SUCCEEDED, message, result, component=COMPONENT)

    def fail(self, job: Job, reason: str, result=None) -> None:
        operations.finish(job, OperationStatus.FAILED, reason, result, component=COMPONENT)

    @staticmethod
    def save(job: Job, **state) -> dict:
        """Keep an operation's phase (its result) so that a resumed one carries on."""
        merged = {**(job.result or {}), **state}
        Job.update(result=merged).where(Job.id == job.id).execute()
        job.result = merged
        return merged

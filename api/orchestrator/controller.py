"""The orchestrator: configures scheduled clusters with their product's Ansible playbook.

Level-triggered like the framework. Each pass claims (with a lease) one cluster that is
`scheduled`, or `configuring`/`configured` with nobody holding it (its orchestrator
died: the run is redone, playbooks being idempotent), and then:

    configuring -> ansible-runner, tag `start` -> configured
                -> tag `status`, retried within settings.ready_timeout -> ready

A failing task ends in `failed` with the host, task and message in the reason. Every
run is a `Run` row (stdout and per-task events) that `GET .../logs` serves.

Cluster actions (start, stop, restart, status) go through `run_action`, under the same
lease, so an action and a configuration never overlap on one cluster.
"""
from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import sys
import tarfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from api.core import lease
from api.core import status as st
from api.core.config import REPO_ROOT
from api.orchestrator.inventory import registry_inventory
from api.core.models import Cluster, Node, Run, utcnow
from api.clusters.keys import private_key_path

log = logging.getLogger(__name__)

COMPONENT = "orchestrator"
ACTIONS = ("start", "stop", "restart", "status")
SHARED_ROLES = REPO_ROOT / "roles"
# Statuses the orchestrator picks up on its own (the last two only when nobody holds them).
PENDING = {st.SCHEDULED, st.CONFIGURING, st.CONFIGURED}
MESSAGE_LIMIT = 400
STATUS_RETRY_PAUSE = 2.0
STATUS_SSH_TIMEOUT = 10.0
MAX_PARALLEL = 4  # clusters configured at once by one orchestrator process


class ActionError(Exception):
    """An action that cannot run now (cluster busy, or in the wrong status)."""


@dataclass
class RunResult:
    run: Run
    ok: bool
    reason: str = ""  # for a failed run: who failed, where, why
    cancelled: bool = False
    events: list = field(default_factory=list)


def _message(res: dict) -> str:
    """The human part of a task result (module message, else the command's stderr)."""
    res = res or {}
    msg = str(res.get("msg") or res.get("reason") or "").strip()
    stderr = str(res.get("stderr") or res.get("module_stderr") or "").strip()
    # A command's msg is only "non-zero return code": its stderr says what went wrong.
    text = f"{msg}: {stderr}" if msg and stderr and stderr not in msg else (msg or stderr)
    if not text and res.get("results"):  # a loop: the first failing item's message
        for item in res["results"]:
            if isinstance(item, dict) and item.get("failed"):
                text = item.get("msg") or item.get("stderr") or ""
                break
    text = str(text).strip()
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."


_EVENT_STATUS = {"runner_on_ok": "ok", "runner_on_failed": "failed",
                 "runner_on_unreachable": "unreachable", "runner_on_skipped": "skipped"}


def task_event(event: dict) -> dict | None:
    """The stored form of one ansible-runner event, for task results only."""
    kind = _EVENT_STATUS.get(event.get("event"))
    if kind is None:
        return None
    data = event.get("event_data") or {}
    res = data.get("res") or {}
    if kind == "ok" and res.get("changed"):
        kind = "changed"
    if kind == "failed" and data.get("ignore_errors"):
        kind = "ignored"
    action = (data.get("task_action") or "").rsplit(".", 1)[-1]
    if kind == "failed" and action == "wait_for_connection":
        kind = "unreachable"  # the shared wait_for_ssh role gave up on the node
    return {"host": data.get("host", ""), "task": data.get("task", ""), "status": kind,
            "message": _message(res) if kind in ("failed", "unreachable", "ignored") else "",
            "time": event.get("created", "")}


def failure_reason(events: list[dict], action: str, rc: int | None, addresses: dict,
                   stdout: str = "") -> str:
    """One sentence naming the host, task and message of the first failure."""
    for ev in events:
        if ev["status"] == "unreachable":
            where = f" ({addresses[ev['host']]})" if addresses.get(ev["host"]) else ""
            return (f"{action}: node {ev['host']}{where} is unreachable in task "
                    f"'{ev['task']}': {ev['message']}")
        if ev["status"] == "failed":
            return f"{action}: task '{ev['task']}' failed on {ev['host']}: {ev['message']}"
    # No task failed: ansible itself stopped (syntax error, missing role...); its last
    # words say why.
    tail = " | ".join(line.strip() for line in stdout.strip().splitlines()[-3:] if line.strip())
    return f"{action}: ansible-playbook exited with {rc} before any task failed: {tail[-MESSAGE_LIMIT:]}"


class Orchestrator:
    name = COMPONENT

    def __init__(self, platform, owner: str | None = None):
        self.platform = platform
        self.settings = platform.settings
        self.owner = owner or lease.new_owner(COMPONENT)
        self._stopping = threading.Event()

    # --- the controller loop ----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Configure up to `MAX_PARALLEL` clusters at once, each in a worker thread, so
        one slow playbook does not hold up every other launch."""
        inflight: dict[int, Future] = {}
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
        self._close_interrupted_runs(cluster)
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
            if time.monotonic() + STATUS_RETRY_PAUSE >= deadline:
                st.fail(cluster, COMPONENT, f"not ready after {self.settings.ready_timeout:g}s: "
                                            f"{result.reason}")
                return
            time.sleep(STATUS_RETRY_PAUSE)
            if not lease.claim(cluster.id, self.owner, self.settings.lease_seconds, {st.CONFIGURED}):
                return

    # --- actions (POST .../actions/<action>) --------------------------------------------

    def run_action(self, cluster: Cluster, action: str) -> dict:
        """Run one action now, in the caller's thread; returns the action's result."""
        if action not in ACTIONS:
            raise ValueError(action)
        allowed = {st.READY, st.STOPPED} if action != "status" else {st.READY, st.STOPPED, st.CONFIGURED}
        if cluster.status not in allowed:
            raise ActionError(f"cannot {action} a cluster that is {cluster.status}; "
                              f"it must be {' or '.join(sorted(allowed))}")
        if not lease.claim(cluster.id, self.owner, self.settings.lease_seconds, allowed):
            raise ActionError(f"cluster is busy ({cluster.dn} is being worked on); try again shortly")
        try:
            cluster = Cluster.get_by_id(cluster.id)
            return self._action(cluster, action)
        finally:
            lease.release(cluster.id, self.owner)

    def _action(self, cluster: Cluster, action: str) -> dict:
        if action == "status":
            result = self.run_playbook(cluster, "status")
            # The check is the truth about a started cluster: nodes found stopped make it
            # `stopped`, a stopped cluster found running again is `ready`.
            if result.ok and cluster.status == st.STOPPED:
                st.transition(cluster, st.READY, COMPONENT, "status check passed", reason="")
            elif not result.ok and not result.cancelled and cluster.status == st.READY:
                st.transition(cluster, st.STOPPED, COMPONENT, result.reason, reason=result.reason)
            return self._answer(cluster, action, result)
        if action == "stop":
            result = self.run_playbook(cluster, "stop")
            if result.ok:
                st.transition(cluster, st.STOPPED, COMPONENT, "stopped by request", reason="")
            elif not result.cancelled:
                st.fail(cluster, COMPONENT, result.reason)
            return self._answer(cluster, action, result)
        # start and restart: configuring while the playbook runs, so a crash in the
        # middle is picked up by the controller (it redoes `start`).
        if not st.transition(cluster, st.CONFIGURING, COMPONENT, f"running the playbook ({action})",
                             expect={st.READY, st.STOPPED}):
            raise ActionError(f"cluster moved to {Cluster.get_by_id(cluster.id).status}")
        result = self.run_playbook(cluster, action)
        if result.ok:
            st.transition(cluster, st.CONFIGURED, COMPONENT, f"playbook ({action}) succeeded",
                          expect=st.CONFIGURING)
            self.wait_ready(cluster)
        elif not result.cancelled:
            st.fail(cluster, COMPONENT, result.reason)
        return self._answer(Cluster.get_by_id(cluster.id), action, result)

    @staticmethod
    def _answer(cluster: Cluster, action: str, result: RunResult) -> dict:
        return {"action": action, "result": "successful" if result.ok else "failed",
                "reason": result.reason, "status": Cluster.get_by_id(cluster.id).status,
                "run": result.run.id, "events": result.events}

    # --- one ansible-runner run -----------------------------------------------------------

    def run_playbook(self, cluster: Cluster, tag: str) -> RunResult:
        """Run the product playbook with `tag`; renews the lease while it runs."""
        import ansible_runner  # heavy: loaded by the processes that run playbooks only

        run = Run.create(cluster=cluster, action=tag)
        private = self.settings.runs_dir / str(cluster.id) / str(run.id)
        try:
            nodes, inventory_path, addresses = self._prepare(cluster, private)
        except Exception as exc:  # a broken bundle or registry row: say so on the run
            reason = f"{tag}: cannot prepare the run: {exc}"
            Run.update(status="failed", finished=utcnow(), summary=reason).where(Run.id == run.id).execute()
            return RunResult(Run.get_by_id(run.id), False, reason)

        events: list[dict] = []
        cancel = threading.Event()

        def on_event(event: dict) -> bool:
            stored = task_event(event)
            if stored:
                events.append(stored)
            return True

        thread, runner = ansible_runner.run_async(
            private_data_dir=str(private), playbook="playbook.yml", inventory=str(inventory_path),
            tags=tag, ident="artifacts", quiet=True, forks=max(5, min(nodes, 50)),
            envvars=self._envvars(private), extravars={"bdp_ssh_timeout": self._ssh_timeout(tag)},
            event_handler=on_event,
            cancel_callback=lambda: cancel.is_set() or self._stopping.is_set(),
            settings={"suppress_ansible_output": True})
        # The run goes on in its thread while this one keeps the lease alive; losing the
        # lease (cluster destroyed, or taken over) cancels the run.
        renew_every = max(1.0, self.settings.lease_seconds / 3)
        statuses = {st.CONFIGURING, st.CONFIGURED, st.READY, st.STOPPED}
        while thread.is_alive():
            thread.join(renew_every)
            if thread.is_alive() and not lease.claim(cluster.id, self.owner,
                                                     self.settings.lease_seconds, statuses):
                cancel.set()
        thread.join()

        rc = runner.rc
        ok = runner.status == "successful" and rc == 0
        cancelled = runner.status == "canceled" or cancel.is_set() or self._stopping.is_set()
        stdout = ""
        try:
            stdout = runner.stdout.read()
        except Exception:  # no stdout file when ansible never started
            pass
        reason = "" if ok else ("run cancelled: the orchestrator is stopping or lost the lease" if cancelled
                                else failure_reason(events, tag, rc, addresses, stdout))
        Run.update(status="successful" if ok else ("cancelled" if cancelled else "failed"), rc=rc,
                   finished=utcnow(), stdout=stdout, events=events, summary=reason or "ok").where(
            Run.id == run.id).execute()
        # Everything worth keeping is in the Run row now; readiness retries alone would
        # otherwise leave a directory (project copy, artifacts) every two seconds.
        shutil.rmtree(private, ignore_errors=True)
        return RunResult(Run.get_by_id(run.id), ok, reason, cancelled, events)

    def _ssh_timeout(self, tag: str) -> int:
        # `start` may meet nodes whose sshd is still coming up; a `status` check should
        # answer soon (a stopped node means "not running", and readiness retries anyway).
        timeout = self.settings.start_timeout
        return int(min(timeout, STATUS_SSH_TIMEOUT) if tag == "status" else timeout)

    def _prepare(self, cluster: Cluster, private: Path) -> tuple[int, Path, dict]:
        """Write the private data dir: project (playbook, roles, files) and inventory."""
        project = private / "project"
        project.mkdir(parents=True, exist_ok=True)
        write_project(cluster.product, project, self.settings.products_dir)
        key = private_key_path(self.settings, cluster.id)
        if not key.exists():
            raise RuntimeError(f"the cluster's SSH key is missing ({key.name})")
        shaped = registry_inventory(cluster, extra_vars={
            # The key stays where it is (0600, platform only): the inventory names its path.
            "ansible_ssh_private_key_file": str(key),
            "ansible_python_interpreter": "/usr/bin/python3",
        })
        inventory = private / "inventory" / "hosts.yml"
        inventory.parent.mkdir(parents=True, exist_ok=True)
        inventory.write_text(yaml.dump(shaped, Dumper=UnsafeDumper, sort_keys=False))
        addresses = {h: v.get("ansible_host") for h, v in shaped["all"]["hosts"].items()}
        count = Node.select().where(Node.cluster == cluster).count()
        return count, inventory, addresses

    @staticmethod
    def _envvars(private: Path) -> dict:
        roles = [private / "project" / "roles", SHARED_ROLES]
        # ansible-playbook is installed beside the interpreter (the venv's bin/), which
        # need not be on the PATH of a service.
        path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
        return {
            "PATH": path,
            "ANSIBLE_ROLES_PATH": ":".join(str(p) for p in roles),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            # Pipelining + a persistent master connection: each task costs one round trip.
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_SSH_ARGS": ("-o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes "
                                 "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
                                 "-o LogLevel=ERROR"),
            "ANSIBLE_TIMEOUT": "10",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_NOCOLOR": "True",
        }

    def _close_interrupted_runs(self, cluster: Cluster) -> None:
        # Runs a killed process left `running` are over: say so in the logs. Their
        # ansible-playbook may outlive it (it runs in a session of its own): stop it
        # before the run is redone, so two playbooks never act on the nodes at once.
        interrupted = list(Run.select().where((Run.cluster == cluster) & (Run.status == "running")))
        for run in interrupted:
            kill_run_processes(self.settings.runs_dir / str(cluster.id) / str(run.id))
        Run.update(status="interrupted", finished=utcnow(),
                   summary="the orchestrator stopped during this run").where(
            Run.id.in_([r.id for r in interrupted])).execute()


class UnsafeDumper(yaml.SafeDumper):
    """Writes every string as `!unsafe`: option values and service properties come from
    users, and Ansible would otherwise evaluate a `{{ lookup('pipe', ...) }}` in them on
    the platform host. Nothing in an inventory needs templating."""


UnsafeDumper.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("!unsafe", value))


def kill_run_processes(private: Path) -> int:
    """Kill (by process group) every local process working in a run's private data dir."""
    marker = f"{private}/".encode()
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "cmdline").read_bytes():
                continue
            group = os.getpgid(int(entry.name))
            if group != os.getpgrp():  # ansible runs in a session of its own, never ours
                os.killpg(group, signal.SIGKILL)
            killed += 1
        except (OSError, ProcessLookupError):  # gone meanwhile, or not ours to read
            continue
    return killed


def write_project(product, project: Path, products_dir: Path) -> None:
    """The product's orchestrator as an ansible-runner project directory.

    Product.orchestrator holds a playbook (YAML) or a tar.gz bundle (playbook.yml,
    roles/, files/); without one, the bundle directory products/<name>/<version>/ is used.
    """
    if product.orchestrator:
        data = bytes(product.orchestrator)
        if product.orchestrator_format == "tar.gz":
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                # The "data" filter refuses absolute paths, links out of the tree and devices.
                tar.extractall(project, filter="data")
            if not (project / "playbook.yml").exists():
                raise RuntimeError("the orchestrator bundle has no playbook.yml")
        else:
            (project / "playbook.yml").write_bytes(data)
        return
    source = Path(products_dir) / product.name / product.version
    if not (source / "playbook.yml").exists():
        raise RuntimeError(f"product {product.name} {product.version} has no playbook "
                           f"(PUT .../orchestrator, or {source}/playbook.yml)")
    shutil.copy2(source / "playbook.yml", project / "playbook.yml")
    for sub in ("roles", "files", "templates"):
        if (source / sub).is_dir():
            shutil.copytree(source / sub, project / sub, dirs_exist_ok=True)

"""One ansible-runner run of a product playbook: the private data directory (project,
inventory), an environment built for the run, lease renewal while it runs, and the
`Run` row that keeps its output and per-task events."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from api.catalog.playbook import SHARED_ROLES, write_project
from api.clusters.keys import private_key_path
from api.core import lease
from api.core import status as st
from api.core.models import Cluster, Node, Product, Run, utcnow
from api.core.status import RunStatus
from api.orchestrator.inventory import registry_inventory
from api.orchestrator.results import failure_reason, is_playbook_error, recap_clean, task_event

log = logging.getLogger("bdp.orchestrator")

STATUS_SSH_TIMEOUT = 10.0
PLATFORM_PLAYBOOK = "bdp-platform.yml"  # where a platform playbook (playbooks/) is copied in a run


@dataclass
class RunResult:
    run: Run
    ok: bool
    reason: str = ""  # for a failed run: who failed, where, why
    cancelled: bool = False
    events: list = field(default_factory=list)
    # The failure is the playbook's own (syntax, missing role, bad argument): running the
    # same playbook again cannot pass.
    playbook_error: bool = False


class PlaybookRunner:
    """Runs a cluster's playbook with one tag, holding the cluster's lease as `owner`;
    a set `stopping` event (the process is shutting down) cancels the run."""

    def __init__(self, settings, owner: str, stopping: threading.Event):
        self.settings = settings
        self.owner = owner
        self.stopping = stopping

    def run(self, cluster: Cluster, tag: str, groups: dict[str, list[str]] | None = None,
            extravars: dict | None = None, playbook: Path | None = None) -> RunResult:
        """Run the product playbook with `tag`; renews the lease while it runs. `groups`
        are extra inventory groups (and all-group variables of the same name): a resize
        names the nodes it adds (`bdp_adding`) or drains (`bdp_removing`); `extravars`
        are ansible extra variables (`bdp_check_hosts`, see op_nodes.py). `playbook`: one
        of the platform's own (playbooks/) instead, on the same inventory."""
        run = Run.create(cluster=cluster, action=tag)
        private = self.settings.runs_dir / str(cluster.id) / str(run.id)
        try:
            nodes, inventory_path, addresses = self._prepare(cluster, private, groups or {})
            if playbook is not None:
                shutil.copyfile(playbook, private / "project" / PLATFORM_PLAYBOOK)
        except Exception as exc:  # a broken bundle or registry row: say so on the run
            reason = f"{tag}: cannot prepare the run: {exc}"
            Run.update(status=RunStatus.FAILED, finished=utcnow(), summary=reason).where(Run.id == run.id).execute()
            return RunResult(Run.get_by_id(run.id), False, reason, playbook_error=True)

        events: list[dict] = []
        recap: list[bool] = []  # what ansible's closing PLAY RECAP said (recap_clean)
        cancel = threading.Event()

        def on_event(event: dict) -> bool:
            stored = task_event(event)
            if stored:
                events.append(stored)
            clean = recap_clean(event)
            if clean is not None:
                recap.append(clean)
            return True

        thread, runner, broke = self._start(private, inventory_path, tag, nodes, on_event,
                                            lambda: cancel.is_set() or self.stopping.is_set(), extravars or {},
                                            PLATFORM_PLAYBOOK if playbook is not None else "playbook.yml")
        # The run goes on in its thread while this one keeps the lease alive; losing the
        # lease (cluster destroyed, or taken over) cancels the run.
        renew_every = max(1.0, self.settings.lease_seconds / 3)
        while thread.is_alive():
            thread.join(renew_every)
            if thread.is_alive() and not lease.renew(cluster.id, self.owner,
                                                     self.settings.lease_seconds, st.RUN_HOLDS):
                cancel.set()
        thread.join()
        rc, ok, trouble = self._outcome(private, runner, broke, recap)
        cancelled = runner.status == "canceled" or cancel.is_set() or self.stopping.is_set()
        stdout = ""
        try:
            stdout = runner.stdout.read()
        except Exception:  # no stdout file when ansible never started
            pass
        reason = "" if ok else ("run cancelled: the orchestrator is stopping or lost the lease" if cancelled
                                else f"{tag}: {trouble}" if trouble
                                else failure_reason(events, tag, rc, addresses, stdout))
        Run.update(status=RunStatus.SUCCESSFUL if ok else (RunStatus.CANCELLED if cancelled else RunStatus.FAILED), rc=rc,
                   finished=utcnow(), stdout=stdout, events=events, summary=reason or "ok").where(
            Run.id == run.id).execute()
        self._keep_only_failed(cluster, private, failed=not ok and not cancelled)
        return RunResult(Run.get_by_id(run.id), ok, reason, cancelled, events,
                         playbook_error=not ok and not cancelled and is_playbook_error(events, rc))

    @staticmethod
    def _outcome(private: Path, runner, broke: list, recap: list[bool]) -> tuple[int | None, bool, str]:
        """(rc, ok, what broke) of a finished run, in ansible-runner's words unless it raised."""
        if not broke:
            return runner.rc, runner.status == "successful" and runner.rc == 0, ""
        import pexpect
        if isinstance(broke[0], pexpect.exceptions.TIMEOUT) and recap:
            # ansible-runner#1343: the playbook has ended (it printed its PLAY RECAP) and
            # only the last read of its output timed out: the recap tells how it went
            # (a failure is then named by the task events, as usual).
            log.warning("playbook run %s: ansible-runner timed out reading the end of its output; "
                        "its recap says %s", private, "all went well" if recap[-1] else "a host failed")
            return (0, True, "") if recap[-1] else (None, False, "")
        kill_run_processes(private)  # its playbook (a session of its own) may go on
        return runner.rc, False, f"ansible-runner broke off the run: {broke[0]!r}"

    def _keep_only_failed(self, cluster: Cluster, private: Path, failed: bool) -> None:
        """Everything worth keeping is in the Run row; readiness retries alone would leave a
        directory every two seconds. The last failed run's directory stays (until the next
        failure or the cluster's end), so the `Origin: .../runs/<cluster>/<run>/project/...`
        paths in ansible's errors point at real files."""
        if not failed:
            shutil.rmtree(private, ignore_errors=True)
            return
        for other in (self.settings.runs_dir / str(cluster.id)).iterdir():
            if other != private:
                shutil.rmtree(other, ignore_errors=True)

    def _start(self, private: Path, inventory: Path, tag: str, nodes: int, on_event, cancelled,
               extravars: dict, playbook: str):
        """ansible-runner on its own thread; returns (thread, runner, broke): `broke` gets
        the exception should ansible-runner raise (rc stays None then, as for a signal)."""
        from ansible_runner.interface import init_runner  # heavy: loaded where playbooks run
        envvars = self._envvars(private)
        runner = init_runner(
            private_data_dir=str(private), playbook=playbook, inventory=str(inventory),
            tags=tag, ident="artifacts", quiet=True, forks=max(5, min(nodes, 50)),
            envvars=envvars, extravars={**extravars, "bdp_ssh_timeout": self._ssh_timeout(tag)},
            event_handler=on_event, suppress_env_files=True, cancel_callback=cancelled,
            settings={"suppress_ansible_output": True})
        # ansible-runner seeds the run's environment with the whole of ours (tokens, the
        # database URL...) and writes it into artifacts/command: the run gets only what
        # it needs instead.
        runner.config.env = run_environment(runner.config.env, envvars)
        broke: list[BaseException] = []

        def run():
            try:
                runner.run()
            except Exception as exc:  # noqa: BLE001 - said on the run, not lost in a thread
                log.exception("playbook run %s: ansible-runner raised", private)
                broke.append(exc)
        thread = threading.Thread(target=run, name=f"bdp-run-{private.name}", daemon=True)
        thread.start()
        return thread, runner, broke

    def _ssh_timeout(self, tag: str) -> int:
        # `start` may meet nodes whose sshd is still coming up; a `status` check should
        # answer soon (a stopped node means "not running", and readiness retries anyway).
        timeout = self.settings.start_timeout
        return int(min(timeout, STATUS_SSH_TIMEOUT) if tag == "status" else timeout)

    def _prepare(self, cluster: Cluster, private: Path, groups: dict) -> tuple[int, Path, dict]:
        """Write the private data dir: project (playbook, roles, files) and inventory."""
        project = private / "project"
        project.mkdir(parents=True, exist_ok=True)
        # The product as it is now: a fix loaded while a readiness check retries is used.
        write_project(Product.get_by_id(cluster.product_id), project, self.settings.products_dir)
        key = private_key_path(self.settings, cluster.id)
        if not key.exists():
            raise RuntimeError(f"the cluster's SSH key is missing ({key.name})")
        shaped = registry_inventory(cluster, extra_vars={
            # The key stays where it is (0600, platform only): the inventory names its path.
            "ansible_ssh_private_key_file": str(key),
            "ansible_python_interpreter": "/usr/bin/python3",
            **{name: list(members) for name, members in groups.items()},
        })
        for name, members in groups.items():
            shaped["all"]["children"][name] = {"hosts": {n: None for n in members
                                                         if n in shaped["all"]["hosts"]}}
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
            # No tty for commands run without stdin (the script module): their stderr
            # stays apart from stdout, and lines end without a carriage return.
            "ANSIBLE_SSH_USETTY": "False",
            "ANSIBLE_TIMEOUT": "10",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_NOCOLOR": "True",
        }

    def close_interrupted_runs(self, cluster: Cluster) -> None:
        # Runs a killed process left `running` are over: say so in the logs. Their
        # ansible-playbook may outlive it (it runs in a session of its own): stop it
        # before the run is redone, so two playbooks never act on the nodes at once.
        interrupted = list(Run.select().where((Run.cluster == cluster) & (Run.status == RunStatus.RUNNING)))
        for run in interrupted:
            private = self.settings.runs_dir / str(cluster.id) / str(run.id)
            killed = kill_run_processes(private)
            if killed:  # the log says who stopped a playbook (its run then says "signal")
                log.warning("cluster %s: run %s (%s) was still running: stopped %d process(es) of it",
                            cluster.id, run.id, run.action, killed)
            shutil.rmtree(private, ignore_errors=True)
        Run.update(status=RunStatus.INTERRUPTED, finished=utcnow(),
                   summary="the orchestrator stopped during this run").where(
            Run.id.in_([r.id for r in interrupted])).execute()


# What a playbook run inherits from the platform's own environment.
INHERITED = ("HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME")


def run_environment(prepared: dict, ours: dict) -> dict:
    """The environment of a playbook run: what ansible-runner added for itself (its
    callback plugins, artifact paths), what the platform sets (`ours`), and a few
    harmless variables of the platform's own (INHERITED); nothing else of the server's
    environment (BDP_ADMIN_TOKEN, BDP_DATABASE_URL and whatever else it holds)."""
    env = {k: v for k, v in prepared.items()
           if k in ours or k in INHERITED or os.environ.get(k) != v}
    env.update(ours)
    return env


def remove_finished_run_dirs(runs_dir: Path) -> int:
    """Remove the run directories (project copy, inventory, artifacts) of runs that are
    not running: a process killed with -9 leaves its run's directory behind. Those of
    runs still `running` go when their cluster is picked up again (close_interrupted_runs)."""
    running = {(r.cluster_id, r.id) for r in Run.select(Run.id, Run.cluster).where(
        Run.status == RunStatus.RUNNING)}
    removed = 0
    for cluster_dir in (p for p in Path(runs_dir).glob("*") if p.is_dir()):
        for run_dir in (p for p in cluster_dir.glob("*") if p.is_dir()):
            key = (int(cluster_dir.name), int(run_dir.name)) if (
                cluster_dir.name.isdecimal() and run_dir.name.isdecimal()) else None
            if key not in running:
                shutil.rmtree(run_dir, ignore_errors=True)
                removed += 1
    return removed


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

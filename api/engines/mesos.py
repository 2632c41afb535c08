"""The Mesos engine: node containers run as Mesos tasks with a Docker container spec.

The platform is one Mesos framework. A background thread keeps its SUBSCRIBE stream
open (api.engines.mesos_client); the framework id lives in the registry (State
"mesos.framework_id") so a restarted platform re-subscribes as the same framework and
its running tasks survive (failover_timeout). On every subscription the engine
reconciles its tasks with the master before answering questions about them.

Placement stays the framework's (api.framework.controller): `hosts()` reports each agent's
totals (operator API GET_AGENTS: cpus, mem, and the items of the `dataDisks` set
resource as disks), and `start_node` waits for an offer from the chosen agent that
fits, then ACCEPTs it with a LAUNCH. Offers nothing waits for are declined with a
filter; a new launch REVIVEs. Status updates with a uuid are acknowledged.

Size: a little over 400 lines, one class holding one framework's state (stream, offers,
tasks, agents) under one lock; its plain data and pure parts are in mesos_tasks.py.
"""
from __future__ import annotations

import getpass
import logging
import threading
import time

from api.engines.base import LABEL_PLATFORM, Engine, HostInfo, NodeSpec, NodeState
from api.engines.docker import EngineError
from api.engines.mesos_client import MesosError, SchedulerClient, get_agents
from api.engines.mesos_tasks import (
    ACTIVE,
    FAILED,
    TERMINAL,
    Agent,
    Offer,
    Task,
    Waiter,
    _scalar,
    _set,
    agents_from,
    parse_task_id,
    task_id,
    task_info,
)

log = logging.getLogger("bdp.mesos")

STATE_KEY = "mesos.framework_id"
FAILOVER_TIMEOUT = 7 * 24 * 3600.0  # how long the master keeps our tasks while we are away
REFUSE_SECONDS = 5.0  # filter on declined offers; a new launch REVIVEs anyway
RECONCILE_QUIET = 1.0  # reconciliation is over when no answer came for this long
RECONCILE_EVERY = 60.0  # periodic implicit reconciliation, as Mesos recommends
AGENTS_CACHE = 2.0
QUERY_TIMEOUT = 10.0  # how long a state question waits for the master (the framework loop asks)
DISKS_ROOT_ATTRIBUTE = "bdp_disks_root"  # agent attribute: where its data disks are mounted
DEFAULT_DISKS_ROOT = "/data"


class MesosEngine(Engine):
    name = "mesos"

    def __init__(self, settings):
        if not settings.mesos_master:
            raise ValueError("the mesos engine needs the master's URL: --mesos-master "
                             "http://HOST:5050 or BDP_MESOS_MASTER")
        self.settings = settings
        self.master = settings.mesos_master.rstrip("/")
        self.platform_label = str(settings.data_dir)
        self.network_prefix = getattr(settings, "mesos_network_prefix", "") or ""
        self._cond = threading.Condition()
        self._tasks: dict[str, Task] = {}
        self._waiters: list[Waiter] = []
        self._agent_lost: dict[str, str] = {}  # agent id -> reason
        self._agents: dict[str, Agent] = {}
        self._agents_at = 0.0
        self._reconcile_until = float("inf")  # not subscribed yet
        self._reconciled_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: SchedulerClient | None = None
        self._start_lock = threading.Lock()

    # ------------------------------------------------------------------ subscription
    def _framework_info(self) -> dict:
        from api.core.models import State
        info = {"user": getpass.getuser(), "name": f"bdp ({self.platform_label})",
                "failover_timeout": FAILOVER_TIMEOUT, "checkpoint": True,
                "labels": {"labels": [{"key": LABEL_PLATFORM, "value": self.platform_label}]}}
        saved = State.get_or_none(State.key == STATE_KEY)
        if saved:
            info["id"] = {"value": saved.value}
        return info

    def _ensure_started(self) -> SchedulerClient:
        with self._start_lock:
            if self._client is None:
                self._client = SchedulerClient(self.master, self._framework_info(), self._on_event,
                                               on_disconnect=self._on_disconnect)
                self._thread = threading.Thread(target=self._client.run, args=(self._stop,),
                                                name="bdp-mesos-subscriber", daemon=True)
                self._thread.start()
        return self._client

    def _subscribed(self, timeout: float | None = None) -> SchedulerClient:
        client = self._ensure_started()
        timeout = self.settings.start_timeout if timeout is None else timeout
        if not client.subscribed.wait(timeout):
            raise EngineError(f"cannot subscribe to the Mesos master at {self.master} "
                              f"(waited {timeout:g}s)")
        return client

    def _reconciled(self, timeout: float | None = None) -> SchedulerClient:
        """Wait until this subscription's reconciliation answers are in, so that what
        the engine says about tasks is what the master knows (e.g. after a restart)."""
        client = self._subscribed(timeout)
        deadline = time.monotonic() + (timeout or self.settings.start_timeout)
        with self._cond:
            while time.monotonic() < self._reconcile_until:
                left = min(self._reconcile_until, deadline) - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        if time.monotonic() - self._reconciled_at > RECONCILE_EVERY:
            self._reconcile(client, blocking=False)
        return client

    def _reconcile(self, client: SchedulerClient, blocking: bool = True) -> None:
        """Ask the master about our tasks; `blocking` holds task questions until the
        answers are in (after each SUBSCRIBE), the periodic one does not."""
        with self._cond:
            known = [(t.id, t.agent_id) for t in self._tasks.values() if t.state in ACTIVE]
            self._reconciled_at = time.monotonic()
            if blocking:
                self._reconcile_until = time.monotonic() + RECONCILE_QUIET
        try:
            client.reconcile()  # implicit: the master answers for every task it knows
            if known:  # explicit: tasks the master may have forgotten while we were away
                client.reconcile(known)
        except MesosError as exc:
            log.warning("mesos: reconcile failed: %s", exc)

    def _on_disconnect(self) -> None:
        with self._cond:
            self._reconcile_until = float("inf")
            for w in self._waiters:  # offers die with the subscription
                w.offer = None
            self._cond.notify_all()

    def close(self) -> None:
        """Drop the subscription; never TEARDOWN, so the tasks keep running (failover)."""
        self._stop.set()
        if self._client is not None:
            self._client.close()

    # ------------------------------------------------------------------ events
    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "SUBSCRIBED":
            fid = event["subscribed"]["framework_id"]["value"]
            log.info("mesos: subscribed to %s as framework %s", self.master, fid)
            self._save_framework_id(fid)
            threading.Thread(target=self._after_subscribe, daemon=True).start()
        elif kind == "OFFERS":
            self._on_offers(event["offers"].get("offers", []))
        elif kind == "RESCIND":
            offer_id = event["rescind"]["offer_id"]["value"]
            with self._cond:
                for w in self._waiters:
                    if w.offer and w.offer.id == offer_id:
                        w.offer = None
                self._cond.notify_all()
        elif kind == "UPDATE":
            self._on_update(event["update"]["status"])
        elif kind == "FAILURE":
            failure = event.get("failure", {})
            agent = failure.get("agent_id", {}).get("value")
            if agent and "executor_id" not in failure:
                self._on_agent_lost(agent)

    def _after_subscribe(self) -> None:
        client = self._client
        self._reconcile(client)
        with self._cond:
            pending = bool(self._waiters)
        if pending:
            self._safe(client.revive)

    def _save_framework_id(self, value: str) -> None:
        from api.core.models import State
        try:
            State.insert(key=STATE_KEY, value=value).on_conflict(
                conflict_target=[State.key], update={State.value: value}).execute()
        except Exception:  # the registry will be written on the next SUBSCRIBED
            log.exception("mesos: cannot store the framework id")

    def _on_offers(self, offers: list[dict]) -> None:
        decline = []
        with self._cond:
            for raw in offers:
                res = raw.get("resources", [])
                offer = Offer(raw["id"]["value"], raw["agent_id"]["value"], raw.get("hostname", ""),
                              _scalar(res, "cpus"), _scalar(res, "mem"), set(_set(res, "dataDisks")))
                taker = None
                for w in self._waiters:
                    if w.host == offer.hostname:
                        w.last_seen = offer
                    if taker is None and w.offer is None and w.fits(offer):
                        taker = w
                if taker is not None:
                    taker.offer = offer
                else:
                    decline.append(offer.id)
            self._cond.notify_all()
        if decline:
            # Nothing waits for these: hand them back, and do not offer them again for a
            # while (a new launch REVIVEs, which lifts the filter at once).
            self._safe(self._client.decline, decline, REFUSE_SECONDS)

    def _on_update(self, status: dict) -> None:
        tid = status["task_id"]["value"]
        agent = status.get("agent_id", {}).get("value", "")
        with self._cond:
            task = self._tasks.setdefault(tid, Task(tid))
            task.state = status["state"]
            task.message = status.get("message", "")
            task.reason = status.get("reason", "")
            if agent:
                task.agent_id = agent
                task.hostname = self._hostname(agent) or task.hostname
            if status.get("reason") == "REASON_RECONCILIATION" and self._reconcile_until != float("inf"):
                self._reconcile_until = max(self._reconcile_until, time.monotonic() + RECONCILE_QUIET)
            self._cond.notify_all()
        if status.get("uuid") and agent:
            self._safe(self._client.acknowledge, agent, tid, status["uuid"])

    def _on_agent_lost(self, agent_id: str) -> None:
        with self._cond:
            host = self._hostname(agent_id) or agent_id
            for task in self._tasks.values():
                if task.agent_id == agent_id and task.state in ACTIVE:
                    task.state, task.reason = "TASK_LOST", "REASON_AGENT_REMOVED"
                    task.message = f"agent {host} was lost"
            self._agent_lost[agent_id] = f"agent {host} was lost"
            self._agents.pop(agent_id, None)
            self._cond.notify_all()

    def _safe(self, call, *args) -> None:
        try:
            call(*args)
        except (MesosError, Exception) as exc:  # the stream's reconnect sorts it out
            log.warning("mesos: %s failed: %s", getattr(call, "__name__", call), exc)

    # ------------------------------------------------------------------ hosts
    def _load_agents(self) -> dict[str, Agent]:
        if time.monotonic() - self._agents_at < AGENTS_CACHE and self._agents:
            return self._agents
        try:
            raw = get_agents(self.master)
        except Exception as exc:
            raise EngineError(f"cannot list the agents of the Mesos master at {self.master}: {exc}") from None
        agents = agents_from(raw)
        with self._cond:
            self._agents, self._agents_at = agents, time.monotonic()
        return agents

    def _hostname(self, agent_id: str) -> str:
        agent = self._agents.get(agent_id)
        return agent.hostname if agent else ""

    def hosts(self) -> list[HostInfo]:
        # No subscription needed: an API-only process lists hosts without becoming a
        # second scheduler of this framework.
        out = []
        for agent in self._load_agents().values():
            root = str(agent.attributes.get(DISKS_ROOT_ATTRIBUTE) or DEFAULT_DISKS_ROOT).rstrip("/")
            out.append(HostInfo(
                name=agent.hostname, cpus=agent.cpus, mem=int(agent.mem),
                disks=[(d, f"{root}/{d}") for d in agent.disks], address=agent.hostname,
                attributes={"engine": "mesos", "agent_id": agent.id, **agent.attributes}))
        return out

    # ------------------------------------------------------------------ nodes
    def network_name(self, network: str) -> str:
        """The docker network on the agents that serves a registry network."""
        return self.network_prefix + network

    def _task_info(self, spec: NodeSpec, agent: Agent, disk_names: set[str]) -> dict:
        return task_info(spec, agent.id, disk_names, self.platform_label, self.network_name)

    def start_node(self, spec: NodeSpec) -> str:
        client = self._reconciled()
        tid = task_id(spec.cluster_id, spec.name)
        with self._cond:
            task = self._tasks.get(tid)
        if task is not None and task.state in ACTIVE:  # started before a restart: adopt it
            return self._wait_running(tid, spec)
        agent = next((a for a in self._load_agents().values() if a.hostname == spec.host), None)
        if agent is None:
            raise EngineError(f"Mesos agent {spec.host} is not registered with the master")
        root = str(agent.attributes.get(DISKS_ROOT_ATTRIBUTE) or DEFAULT_DISKS_ROOT).rstrip("/")
        disk_names = {d for d in agent.disks for m in spec.mounts
                      if m.source == f"{root}/{d}" or m.source.startswith(f"{root}/{d}/")}
        try:
            info = self._task_info(spec, agent, disk_names)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        deadline = time.monotonic() + self.settings.start_timeout
        while True:
            offer = self._wait_offer(client, Waiter(spec.host, spec.cpu, spec.mem, disk_names),
                                     spec, deadline)
            info["agent_id"] = {"value": offer.agent_id}
            with self._cond:
                self._tasks[tid] = Task(tid, offer.agent_id, "TASK_STAGING", hostname=offer.hostname)
            try:
                # refuse_seconds 0: what the task leaves of the offer comes back at once,
                # for the cluster's other nodes waiting on this agent.
                client.accept([offer.id], [{"type": "LAUNCH", "launch": {"task_infos": [info]}}], 0)
            except MesosError as exc:
                raise EngineError(f"launching on {spec.host} failed: {exc}") from None
            with self._cond:
                self._cond.wait_for(lambda: self._tasks[tid].state != "TASK_STAGING"
                                    or time.monotonic() > deadline, timeout=max(deadline - time.monotonic(), 0))
                task = self._tasks[tid]
                lost_offer = task.state in ("TASK_LOST", "TASK_DROPPED") and \
                    task.reason == "REASON_INVALID_OFFERS"
            if lost_offer:  # the offer was rescinded under us: wait for another one
                log.info("mesos: offer %s for %s was gone; waiting for another", offer.id, tid)
                continue
            return self._wait_running(tid, spec, deadline)

    def _wait_offer(self, client, waiter: Waiter, spec: NodeSpec, deadline: float) -> Offer:
        with self._cond:
            self._waiters.append(waiter)
        self._safe(client.revive)  # lift the filters of earlier declines
        with self._cond:
            self._cond.wait_for(lambda: waiter.offer is not None or time.monotonic() > deadline,
                                timeout=max(deadline - time.monotonic(), 0))
            self._waiters.remove(waiter)  # under the same lock: no offer can land after this
            if waiter.offer is not None:
                return waiter.offer
        seen = (f"latest offer from {spec.host}: {waiter.last_seen.describe()}"
                if waiter.last_seen else f"no offer came from agent {spec.host}")
        disks = f", disks {sorted(waiter.disks)}" if waiter.disks else ""
        raise EngineError(f"no Mesos offer fits {spec.cpu:g} cpus, {spec.mem} MB{disks} on "
                          f"{spec.host} within {self.settings.start_timeout:g}s; {seen}")

    def _wait_running(self, tid: str, spec: NodeSpec, deadline: float | None = None) -> str:
        deadline = deadline or time.monotonic() + self.settings.start_timeout
        with self._cond:
            self._cond.wait_for(lambda: self._tasks[tid].state not in ("TASK_STAGING", "TASK_STARTING")
                                or time.monotonic() > deadline, timeout=max(deadline - time.monotonic(), 0))
            task = self._tasks[tid]
        if task.state == "TASK_RUNNING":
            return tid
        if task.state in ("TASK_STAGING", "TASK_STARTING"):
            raise EngineError(f"Mesos task {tid} is still {task.state} after "
                              f"{self.settings.start_timeout:g}s")
        raise EngineError(self._describe(task))

    @staticmethod
    def _describe(task: Task) -> str:
        reason = f" ({task.reason})" if task.reason else ""
        where = f" on {task.hostname}" if task.hostname else ""
        return f"Mesos task {task.id}{where} is {task.state}{reason}: {task.message or 'no message'}"

    def _state(self, task: Task) -> NodeState:
        cid, name = parse_task_id(task.id)
        if task.state == "TASK_RUNNING":
            state = "running"
        elif task.state in ("TASK_STAGING", "TASK_STARTING"):
            state = "starting"
        elif task.state in FAILED:
            state = "failed"
        else:
            state = "exited"
        return NodeState(state=state, container_id=task.id, host=task.hostname,
                         logs="" if state in ("running", "starting") else self._describe(task),
                         cluster_id=cid, name=name)

    def node_state(self, cluster_id: int, name: str) -> NodeState:
        self._reconciled(QUERY_TIMEOUT)
        with self._cond:
            task = self._tasks.get(task_id(cluster_id, name))
            if task is None:
                return NodeState(state="missing", cluster_id=cluster_id, name=name)
            return self._state(task)

    def remove_node(self, cluster_id: int, name: str) -> None:
        client = self._reconciled()
        tid = task_id(cluster_id, name)
        with self._cond:
            task = self._tasks.get(tid)
            if task is None or task.state in TERMINAL:
                return
            agent = task.agent_id
        try:
            client.kill(tid, agent or None)
        except MesosError as exc:
            raise EngineError(f"cannot kill Mesos task {tid}: {exc}") from None
        deadline = time.monotonic() + self.settings.start_timeout
        with self._cond:
            if not self._cond.wait_for(lambda: self._tasks[tid].state in TERMINAL,
                                       timeout=max(deadline - time.monotonic(), 0)):
                raise EngineError(f"Mesos task {tid} was not killed within "
                                  f"{self.settings.start_timeout:g}s (state {self._tasks[tid].state})")

    def list_nodes(self) -> list[NodeState]:
        """This framework's live tasks, as the last reconciliation with the master says."""
        self._reconciled(QUERY_TIMEOUT)
        with self._cond:
            return [self._state(t) for t in self._tasks.values()
                    if t.state in ACTIVE and parse_task_id(t.id)[0] is not None]

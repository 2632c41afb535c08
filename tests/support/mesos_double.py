"""A test double of an Apache Mesos master, for the tests of the mesos engine.

A real master (and its agents) cannot run on these machines, so this one speaks the
v1 scheduler HTTP API as documented (POST /api/v1/scheduler: SUBSCRIBE answers a
chunked stream of RecordIO frames with a `Mesos-Stream-Id`; every other call needs
that header) and plays the agents itself: each configured agent offers cpus, mem and
a `dataDisks` set; a LAUNCH starts the task's Docker container on the local Docker
Engine from the TaskInfo's ContainerInfo, so everything after placement (SSH,
Ansible, readiness) runs for real.

Documented behaviour it keeps: offers are re-offered after DECLINE once the filter's
refuse_seconds pass (5 s by default) or at once after REVIVE; SUPPRESS stops offers;
a LAUNCH on an offer that is no longer valid yields TASK_LOST with
REASON_INVALID_OFFERS; updates from agents carry a uuid and stay unacknowledged until
ACKNOWLEDGE; RECONCILE with no tasks answers every task of the framework; a framework
that disconnects keeps its tasks for `failover_timeout` seconds and may re-subscribe
with its id; TEARDOWN kills its tasks.

Test hooks: `rescind(hostname)`, `rescind_next_accept()`, `lose_task(task_id)`,
`restart_streams()`, plus `calls` (every call received) for assertions.
"""
from __future__ import annotations

import base64
import itertools
import json
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DOUBLE_LABEL = "org.bdp.mesos-double"  # every container the double starts carries it
TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
            "TASK_DROPPED", "TASK_GONE"}
_CLOSE = object()  # queued to end a subscription stream


@dataclass
class Agent:
    hostname: str
    cpus: float
    mem: int
    disks: list[str] = field(default_factory=list)  # items of the `dataDisks` set
    attributes: dict[str, str] = field(default_factory=dict)
    id: str = ""


@dataclass
class Task:
    framework_id: str
    task_id: str
    agent_id: str
    info: dict
    cpus: float
    mem: float
    disks: set[str]
    state: str = "TASK_STAGING"
    container_id: str = ""
    message: str = ""
    reason: str = ""


@dataclass
class Framework:
    id: str
    info: dict
    stream_id: str = ""
    events: queue.Queue | None = None  # the live subscription's outgoing events
    disconnected_at: float | None = None
    suppressed: bool = False
    removed: bool = False


def scalar(name, value):
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}, "role": "*"}


def resources_of(resources: list[dict]) -> tuple[float, float, set[str]]:
    cpus = sum(r["scalar"]["value"] for r in resources if r["name"] == "cpus")
    mem = sum(r["scalar"]["value"] for r in resources if r["name"] == "mem")
    disks = {i for r in resources if r["name"] == "dataDisks" for i in r["set"]["item"]}
    return cpus, mem, disks


class MesosMasterDouble:
    def __init__(self, agents: list[Agent], docker_client, *, heartbeat: float = 1.0,
                 allocation_interval: float = 0.2):
        self.id = uuid.uuid4().hex[:12]
        self.docker = docker_client
        self.heartbeat = heartbeat
        self.allocation_interval = allocation_interval
        self.agents = {}
        for n, agent in enumerate(agents):
            agent.id = agent.id or f"{self.id}-S{n}"
            self.agents[agent.id] = agent
        self.lock = threading.RLock()
        self.frameworks: dict[str, Framework] = {}
        self.offers: dict[str, tuple[str, str, list[dict]]] = {}  # id -> (framework, agent, resources)
        self.filters: dict[tuple[str, str], float] = {}  # (framework, agent) -> until
        self.tasks: dict[tuple[str, str], Task] = {}
        self.unacked: dict[str, tuple[str, str]] = {}  # uuid -> (task id, state)
        self.calls: list[dict] = []  # every call received, for assertions
        self._rescind_next_accept = False
        self._watched = 0.0
        self._ids = itertools.count(1)
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._threads = [threading.Thread(target=self._server.serve_forever, daemon=True),
                         threading.Thread(target=self._allocator, daemon=True)]

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> "MesosMasterDouble":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.restart_streams()
        self._server.shutdown()
        self._server.server_close()
        for c in self.docker.containers.list(all=True, filters={"label": f"{DOUBLE_LABEL}={self.id}"}):
            c.remove(force=True)

    # -- test hooks -----------------------------------------------------------

    def calls_of(self, kind: str) -> list[dict]:
        with self.lock:
            return [c for c in self.calls if c.get("type") == kind]

    def agent(self, hostname: str) -> Agent:
        return next(a for a in self.agents.values() if a.hostname == hostname)

    def rescind(self, hostname: str) -> list[str]:
        """Rescind the outstanding offers of an agent (as when another framework took them)."""
        agent = self.agent(hostname)
        with self.lock:
            ids = [o for o, (_, a, _) in self.offers.items() if a == agent.id]
            for offer_id in ids:
                fid, _, _ = self.offers.pop(offer_id)
                self._send(fid, {"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}})
                self.filters[(fid, agent.id)] = time.monotonic() + 0.5
        return ids

    def rescind_next_accept(self) -> None:
        """The next ACCEPT races a rescind: its offers are gone when it arrives."""
        self._rescind_next_accept = True

    def lose_task(self, task_id: str, message: str = "Agent lost the task") -> None:
        with self.lock:
            task = next(t for t in self.tasks.values() if t.task_id == task_id)
        self._remove_container(task)
        self._update(task, "TASK_LOST", message=message, reason="REASON_AGENT_REMOVED",
                     source="SOURCE_MASTER")

    def restart_streams(self) -> None:
        """Close every subscription stream (as on a master failover)."""
        with self.lock:
            for fw in self.frameworks.values():
                if fw.events is not None:
                    fw.events.put(_CLOSE)

    def task(self, task_id: str) -> Task | None:
        with self.lock:
            return next((t for t in self.tasks.values() if t.task_id == task_id), None)

    def subscriptions(self) -> list[str | None]:
        """The framework id each SUBSCRIBE asked for (None = a new framework)."""
        return [(c["subscribe"]["framework_info"].get("id") or {}).get("value")
                for c in self.calls_of("SUBSCRIBE")]

    # -- events ---------------------------------------------------------------

    def _send(self, framework_id: str, event: dict) -> None:
        fw = self.frameworks.get(framework_id)
        if fw and fw.events is not None:
            fw.events.put(event)

    def _update(self, task: Task, state: str, *, message: str = "", reason: str = "",
                source: str = "SOURCE_EXECUTOR", ack: bool = True, container_status=None) -> None:
        """Send a status update. `ack=False` is a master's reconciliation answer: no uuid,
        nothing to acknowledge, and the task itself does not change."""
        with self.lock:
            if ack:
                if task.state in TERMINAL and state != task.state:
                    return  # a terminal task reports nothing new
                task.state, task.message, task.reason = state, message, reason
            status = {"task_id": {"value": task.task_id}, "state": state,
                      "agent_id": {"value": task.agent_id}, "source": source,
                      "timestamp": time.time()}
            if message or task.message:
                status["message"] = message or task.message
            if reason:
                status["reason"] = reason
            if container_status:
                status["container_status"] = container_status
            if ack:
                status["uuid"] = base64.b64encode(uuid.uuid4().bytes).decode()
                self.unacked[status["uuid"]] = (task.task_id, state)
            self._send(task.framework_id, {"type": "UPDATE", "update": {"status": status}})

    def _get_agents(self) -> dict:
        agents = []
        with self.lock:
            for a in self.agents.values():
                resources = [scalar("cpus", a.cpus), scalar("mem", a.mem)]
                if a.disks:
                    resources.append({"name": "dataDisks", "type": "SET", "role": "*",
                                      "set": {"item": list(a.disks)}})
                agents.append({"active": True, "total_resources": resources, "agent_info": {
                    "id": {"value": a.id}, "hostname": a.hostname, "resources": resources,
                    "attributes": [{"name": k, "type": "TEXT", "text": {"value": v}}
                                   for k, v in a.attributes.items()]}})
        return {"type": "GET_AGENTS", "get_agents": {"agents": agents}}

    # -- the allocator ----------------------------------------------------------

    def _free(self, agent: Agent) -> tuple[float, float, set[str]]:
        cpus, mem, disks = agent.cpus, agent.mem, set(agent.disks)
        for t in self.tasks.values():
            if t.agent_id == agent.id and t.state not in TERMINAL:
                cpus, mem, disks = cpus - t.cpus, mem - t.mem, disks - t.disks
        for _, a, res in self.offers.values():
            if a == agent.id:
                c, m, d = resources_of(res)
                cpus, mem, disks = cpus - c, mem - m, disks - d
        return round(cpus, 3), mem, disks

    def _allocator(self) -> None:
        while not self._stop.wait(self.allocation_interval):
            now = time.monotonic()
            with self.lock:
                for fw in list(self.frameworks.values()):
                    failover = float(fw.info.get("failover_timeout", 0))
                    if fw.events is None and not fw.removed and fw.disconnected_at is not None \
                            and now - fw.disconnected_at > failover:
                        self._remove_framework(fw)
                    if fw.events is None or fw.suppressed or fw.removed:
                        continue
                    for agent in self.agents.values():
                        if self.filters.get((fw.id, agent.id), 0) > now:
                            continue
                        if any(f == fw.id and a == agent.id for f, a, _ in self.offers.values()):
                            continue
                        cpus, mem, disks = self._free(agent)
                        if cpus <= 0 and mem <= 0:
                            continue
                        self._offer(fw, agent, cpus, mem, disks)
            if now - self._watched > 1.0:  # docker is asked once a second, not every cycle
                self._watched = now
                self._watch_containers()

    def _offer(self, fw: Framework, agent: Agent, cpus, mem, disks) -> None:
        offer_id = f"{self.id}-O{next(self._ids)}"
        resources = [scalar("cpus", cpus), scalar("mem", mem)]
        if disks:
            resources.append({"name": "dataDisks", "type": "SET", "role": "*",
                              "set": {"item": sorted(disks)}})
        self.offers[offer_id] = (fw.id, agent.id, resources)
        self._send(fw.id, {"type": "OFFERS", "offers": {"offers": [{
            "id": {"value": offer_id}, "framework_id": {"value": fw.id},
            "agent_id": {"value": agent.id}, "hostname": agent.hostname,
            "resources": resources,
            "attributes": [{"name": k, "type": "TEXT", "text": {"value": v}}
                           for k, v in agent.attributes.items()]}]}})

    def _watch_containers(self) -> None:
        """A container that exits on its own ends its task, as the docker executor reports."""
        with self.lock:
            running = {t.container_id: t for t in self.tasks.values()
                       if t.state == "TASK_RUNNING" and t.container_id}
        if not running:
            return
        try:
            exited = self.docker.containers.list(
                all=True, filters={"label": f"{DOUBLE_LABEL}={self.id}", "status": "exited"})
        except Exception:
            return
        for c in exited:
            task = running.get(c.id)
            if task:
                code = c.attrs["State"].get("ExitCode", -1)
                self._update(task, "TASK_FINISHED" if code == 0 else "TASK_FAILED",
                             message=f"Container exited with status {code}")

    # -- calls ----------------------------------------------------------------

    def _call(self, body: dict, stream_id: str | None) -> tuple[int, str]:
        kind = body.get("type")
        fid = (body.get("framework_id") or {}).get("value")
        with self.lock:
            self.calls.append(body)
            fw = self.frameworks.get(fid)
            if fw is None or fw.removed:
                return 404, f"Framework {fid} not found"
            if stream_id != fw.stream_id:
                return 400, ("The stream ID included in this request didn't match the "
                             "stream ID currently associated with framework ID " + fid)
            payload = body.get(kind.lower(), {}) if kind else {}
            handler = getattr(self, f"_on_{kind.lower()}", None) if kind else None
            if handler is None:
                return 400, f"Unsupported call type {kind!r}"
            handler(fw, payload)
            return 202, ""

    def _on_accept(self, fw: Framework, payload: dict) -> None:
        offer_ids = [o["value"] for o in payload.get("offer_ids", [])]
        refuse = float((payload.get("filters") or {}).get("refuse_seconds", 5))
        if self._rescind_next_accept:
            self._rescind_next_accept = False
            for offer_id in offer_ids:
                if self.offers.pop(offer_id, None):
                    self._send(fw.id, {"type": "RESCIND", "rescind": {"offer_id": {"value": offer_id}}})
        offers = [self.offers.get(o) for o in offer_ids]
        for offer_id in offer_ids:
            self.offers.pop(offer_id, None)
        invalid = next((o for o, off in zip(offer_ids, offers) if off is None or off[0] != fw.id), None)
        agents = {off[1] for off in offers if off}
        for agent_id in agents:
            self.filters[(fw.id, agent_id)] = time.monotonic() + refuse
        total = [r for off in offers if off for r in off[2]]
        for op in payload.get("operations", []):
            if op.get("type") != "LAUNCH":
                continue
            for info in op["launch"]["task_infos"]:
                cpus, mem, disks = resources_of(info.get("resources", []))
                task = Task(fw.id, info["task_id"]["value"], info["agent_id"]["value"], info,
                            cpus, mem, disks)
                if invalid is not None:
                    self._update(task, "TASK_LOST", reason="REASON_INVALID_OFFERS", source="SOURCE_MASTER",
                                 message=f"Task launched with invalid offers: Offer {invalid} is no longer valid")
                    continue
                o_cpus, o_mem, o_disks = resources_of(total)
                if cpus > o_cpus + 1e-9 or mem > o_mem or not disks <= o_disks \
                        or task.agent_id not in agents:
                    self._update(task, "TASK_ERROR", reason="REASON_TASK_INVALID", source="SOURCE_MASTER",
                                 message="Task uses more resources than available in the offers")
                    continue
                existing = self.tasks.get((fw.id, task.task_id))
                if existing and existing.state not in TERMINAL:
                    self._update(task, "TASK_ERROR", reason="REASON_TASK_INVALID", source="SOURCE_MASTER",
                                 message=f"Task has duplicate ID: {task.task_id}")
                    continue
                self.tasks[(fw.id, task.task_id)] = task
                threading.Thread(target=self._launch, args=(task,), daemon=True).start()

    def _on_decline(self, fw: Framework, payload: dict) -> None:
        refuse = float((payload.get("filters") or {}).get("refuse_seconds", 5))
        for o in payload.get("offer_ids", []):
            offer = self.offers.pop(o["value"], None)
            if offer:
                self.filters[(fw.id, offer[1])] = time.monotonic() + refuse

    def _on_kill(self, fw: Framework, payload: dict) -> None:
        task = self.tasks.get((fw.id, payload["task_id"]["value"]))
        if task is None:
            ghost = Task(fw.id, payload["task_id"]["value"],
                         (payload.get("agent_id") or {}).get("value", ""), {}, 0, 0, set())
            self._update(ghost, "TASK_LOST", reason="REASON_RECONCILIATION", source="SOURCE_MASTER",
                         message="Attempted to kill an unknown task", ack=False)
            return
        if task.state in TERMINAL:
            self._update(task, task.state, ack=False)
            return
        threading.Thread(target=self._kill, args=(task,), daemon=True).start()

    def _on_acknowledge(self, fw: Framework, payload: dict) -> None:
        self.unacked.pop(payload.get("uuid", ""), None)

    def _on_reconcile(self, fw: Framework, payload: dict) -> None:
        asked = [t["task_id"]["value"] for t in payload.get("tasks", [])]
        if not asked:
            for task in self.tasks.values():
                if task.framework_id == fw.id and task.state not in TERMINAL:
                    self._update(task, task.state, reason="REASON_RECONCILIATION",
                                 source="SOURCE_MASTER", ack=False)
            return
        for task_id in asked:
            task = self.tasks.get((fw.id, task_id))
            if task is None:
                task = Task(fw.id, task_id, "", {}, 0, 0, set())
                self._update(task, "TASK_LOST", reason="REASON_RECONCILIATION",
                             source="SOURCE_MASTER", message="Reconciliation: task is unknown", ack=False)
            else:
                self._update(task, task.state, reason="REASON_RECONCILIATION",
                             source="SOURCE_MASTER", ack=False)

    def _on_suppress(self, fw: Framework, payload: dict) -> None:
        fw.suppressed = True

    def _on_revive(self, fw: Framework, payload: dict) -> None:
        fw.suppressed = False
        for key in [k for k in self.filters if k[0] == fw.id]:
            del self.filters[key]

    def _on_teardown(self, fw: Framework, payload: dict) -> None:
        self._remove_framework(fw)

    def _remove_framework(self, fw: Framework) -> None:
        fw.removed = True
        for task in [t for t in self.tasks.values() if t.framework_id == fw.id]:
            if task.state not in TERMINAL:
                self._remove_container(task)
                task.state = "TASK_KILLED"
        for offer_id in [o for o, off in self.offers.items() if off[0] == fw.id]:
            del self.offers[offer_id]
        if fw.events is not None:
            fw.events.put(_CLOSE)

    def _subscribe(self, body: dict) -> tuple[Framework | None, str]:
        info = body.get("subscribe", {}).get("framework_info", {})
        with self.lock:
            self.calls.append(body)
            fid = (info.get("id") or {}).get("value")
            if fid and fid in self.frameworks:
                fw = self.frameworks[fid]
                if fw.removed:
                    return None, "Framework has been removed"
                if fw.events is not None:  # the old scheduler lost the race: end its stream
                    fw.events.put(_CLOSE)
                fw.info = info
            else:
                fid = fid or f"{self.id}-{next(self._ids):04d}"
                fw = self.frameworks[fid] = Framework(fid, info)
            fw.stream_id = uuid.uuid4().hex
            fw.events = queue.Queue()
            fw.disconnected_at = None
            fw.suppressed = False
            fw.events.put({"type": "SUBSCRIBED", "subscribed": {
                "framework_id": {"value": fid}, "heartbeat_interval_seconds": self.heartbeat}})
            return fw, ""

    def _disconnected(self, fw: Framework, events: queue.Queue) -> None:
        with self.lock:
            if fw.events is events:
                fw.events = None
                fw.disconnected_at = time.monotonic()
                for offer_id in [o for o, off in self.offers.items() if off[0] == fw.id]:
                    del self.offers[offer_id]

    # -- the agents' docker executor -------------------------------------------

    def _launch(self, task: Task) -> None:
        container = task.info.get("container", {})
        docker_info = container.get("docker", {})
        self._update(task, "TASK_STARTING")
        try:
            created = self._create_container(task, container, docker_info)
        except Exception as exc:  # what the docker executor would report: docker's own error
            self._update(task, "TASK_FAILED", reason="REASON_CONTAINER_LAUNCH_FAILED",
                         message=f"Failed to launch container: {exc}")
            return
        with self.lock:
            task.container_id = created.id
            if task.state in TERMINAL:  # killed while launching
                self._remove_container(task)
                return
        self._update(task, "TASK_RUNNING", container_status={
            "network_infos": container.get("network_infos", [])})

    def _create_container(self, task: Task, container: dict, docker_info: dict):
        labels = {DOUBLE_LABEL: self.id, "org.bdp.mesos-task": task.task_id}
        kwargs: dict = {"cap_add": [], "devices": [], "security_opt": []}
        for param in docker_info.get("parameters", []):
            key, value = param["key"], param["value"]
            if key == "label":
                k, _, v = value.partition("=")
                labels[k] = v
            elif key == "cap-add":
                kwargs["cap_add"].append(value)
            elif key == "device":
                kwargs["devices"].append(value)
            elif key == "security-opt":
                kwargs["security_opt"].append(value)
            elif key in ("ip", "hostname"):
                pass  # taken from network_infos / ContainerInfo.hostname below
            else:
                raise ValueError(f"the test double does not support docker parameter --{key}")
        env = {v["name"]: v["value"] for v in
               task.info.get("command", {}).get("environment", {}).get("variables", [])}
        binds = {v["host_path"]: {"bind": v["container_path"],
                                  "mode": "ro" if v.get("mode") == "RO" else "rw"}
                 for v in container.get("volumes", [])}
        networks = [(n["name"], (n.get("ip_addresses") or [{}])[0].get("ip_address"))
                    for n in container.get("network_infos", [])]
        if docker_info.get("network", "HOST") != "USER" or not networks:
            raise ValueError("only USER networks are supported by the test double")
        first, first_ip = networks[0]
        endpoint = self.docker.api.create_endpoint_config(ipv4_address=first_ip)
        created = self.docker.containers.create(
            docker_info["image"], name=f"mesos-{uuid.uuid4()}", hostname=container.get("hostname"),
            labels=labels, environment=env, volumes=binds, detach=True,
            nano_cpus=int(task.cpus * 1e9), mem_limit=f"{int(task.mem)}m",
            network=first, networking_config={first: endpoint},
            **{k: v for k, v in kwargs.items() if v})
        try:
            for name, ip in networks[1:]:
                self.docker.networks.get(name).connect(created, ipv4_address=ip)
            created.start()
        except Exception:
            created.remove(force=True)
            raise
        return created

    def _remove_container(self, task: Task) -> None:
        if not task.container_id:
            return
        try:
            self.docker.containers.get(task.container_id).remove(force=True)
        except Exception:  # already gone
            pass

    def _kill(self, task: Task) -> None:
        self._update(task, "TASK_KILLING")
        self._remove_container(task)
        self._update(task, "TASK_KILLED", message="Container killed")

    # -- HTTP -------------------------------------------------------------------

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, code: int, text: str = "") -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                if self.path not in ("/api/v1/scheduler", "/api/v1"):
                    return self._reply(404, "Not found")
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length))
                except ValueError as exc:
                    return self._reply(400, f"Failed to parse body: {exc}")
                if self.path == "/api/v1":  # the operator API: only what the engine asks
                    if body.get("type") != "GET_AGENTS":
                        return self._reply(400, f"Unsupported operator call {body.get('type')!r}")
                    data = json.dumps(double._get_agents()).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                if body.get("type") != "SUBSCRIBE":
                    return self._reply(*double._call(body, self.headers.get("Mesos-Stream-Id")))
                fw, error = double._subscribe(body)
                if fw is None:
                    # The documented answer to a removed framework: an ERROR event, then EOF.
                    events = queue.Queue()
                    events.put({"type": "ERROR", "error": {"message": error}})
                    events.put(_CLOSE)
                    return self._stream("", events, None)
                self._stream(fw.stream_id, fw.events, fw)

            def _stream(self, stream_id, events, fw):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                if stream_id:
                    self.send_header("Mesos-Stream-Id", stream_id)
                self.end_headers()
                try:
                    while not double._stop.is_set():
                        try:
                            event = events.get(timeout=double.heartbeat)
                        except queue.Empty:
                            event = {"type": "HEARTBEAT"}
                        if event is _CLOSE:
                            break
                        data = json.dumps(event).encode()
                        frame = b"%d\n%s" % (len(data), data)
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
                finally:
                    self.close_connection = True
                    if fw is not None:
                        double._disconnected(fw, events)

        return Handler


def make_double(docker_client, agents=None, **kwargs) -> MesosMasterDouble:
    return MesosMasterDouble(agents or [Agent("agent1", 4, 4096, ["disk1", "disk2"])],
                             docker_client, **kwargs).start()


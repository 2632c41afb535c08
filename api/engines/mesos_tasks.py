"""The Mesos engine's plain data: task ids, agents' resources, offers, and the TaskInfo
of a node container (docker_opts passed on as DockerInfo parameters). Pure functions
and dataclasses; the engine itself (api/engines/mesos.py) does the talking."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from api.core import privileges
from api.engines.base import LABEL_CLUSTER, LABEL_DN, LABEL_NODE, LABEL_PLATFORM, NodeSpec
from api.engines.docker_opts import parse_docker_opts

ACTIVE = {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING"}
FAILED = {"TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE",
          "TASK_GONE_BY_OPERATOR", "TASK_UNREACHABLE", "TASK_UNKNOWN"}
TERMINAL = FAILED | {"TASK_FINISHED", "TASK_KILLED"}
# docker_opts the node template may set, passed on as DockerInfo parameters
# (`docker run --<key> <value>` on the agent); the same list the docker engine allows.
PARAMETER_OPTS = {"--cap-add", "--cap-drop", "--device", "--security-opt", "--tmpfs",
                  "--shm-size", "--ulimit"}


def task_id(cluster_id: int, name: str) -> str:
    return f"bdp-{cluster_id}-{name}"


def parse_task_id(value: str) -> tuple[int | None, str]:
    _, cid, name = (value.split("-", 2) + ["", ""])[:3]
    return (int(cid) if cid.isdigit() else None), name


def _scalar(resources: list[dict], name: str) -> float:
    return sum(r.get("scalar", {}).get("value", 0) for r in resources if r.get("name") == name)


def _set(resources: list[dict], name: str) -> list[str]:
    return [i for r in resources if r.get("name") == name for i in r.get("set", {}).get("item", [])]


def _attributes(attrs: list[dict]) -> dict:
    out = {}
    for a in attrs or []:
        kind = a.get("type", "TEXT").lower()
        value = a.get(kind, {})
        out[a["name"]] = value.get("value") if isinstance(value, dict) and "value" in value else value
    return out


@dataclass
class Offer:
    id: str
    agent_id: str
    hostname: str
    cpus: float
    mem: float
    disks: set[str]

    def describe(self) -> str:
        disks = f", disks {sorted(self.disks)}" if self.disks else ""
        return f"{self.cpus:g} cpus, {self.mem:g} MB{disks}"


@dataclass
class Task:
    id: str
    agent_id: str = ""
    state: str = "TASK_STAGING"
    message: str = ""
    reason: str = ""
    hostname: str = ""


@dataclass
class Waiter:
    """A launch waiting for an offer from its agent."""
    host: str
    cpus: float
    mem: float
    disks: set[str]
    offer: Offer | None = None
    last_seen: Offer | None = None  # the latest offer from that agent, for the reason

    def fits(self, offer: Offer) -> bool:
        return (offer.hostname == self.host and offer.cpus >= self.cpus - 1e-9
                and offer.mem >= self.mem and self.disks <= offer.disks)


@dataclass
class Agent:
    id: str
    hostname: str
    cpus: float
    mem: float
    disks: list[str] = field(default_factory=list)
    attributes: dict = field(default_factory=dict)



def task_info(spec: NodeSpec, agent_id: str, disk_names: set[str], platform_label: str,
              network_name: Callable[[str], str]) -> dict:
    """The Mesos TaskInfo that runs one node container on agent `agent_id`."""
    # Refuses what the docker engine refuses, by value against the product's privileges.
    opts = parse_docker_opts(spec.docker_opts, spec.privileges)
    parameters = [{"key": opt.lstrip("-"), "value": value}
                  for opt, value in privileges.parse(spec.docker_opts, spec.privileges)
                  if opt in PARAMETER_OPTS]
    labels = {**spec.labels, LABEL_CLUSTER: str(spec.cluster_id), LABEL_DN: spec.cluster_dn,
              LABEL_NODE: spec.name, LABEL_PLATFORM: platform_label}
    # TaskInfo labels identify the task in Mesos; `--label` puts them on the container.
    parameters += [{"key": "label", "value": f"{k}={v}"} for k, v in labels.items()]
    if spec.interfaces:
        # Mesos' docker containerizer does not pass network_infos addresses on to
        # docker; `--ip` does, for the first interface.
        parameters.append({"key": "ip", "value": spec.interfaces[0].address})
    env = {**opts["environment"], **spec.env}
    resources = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": spec.cpu}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": spec.mem}}]
    if disk_names:
        resources.append({"name": "dataDisks", "type": "SET", "set": {"item": sorted(disk_names)}})
    return {
        "name": f"{spec.cluster_dn}/{spec.name}",
        "task_id": {"value": task_id(spec.cluster_id, spec.name)},
        "agent_id": {"value": agent_id},
        "resources": resources,
        "command": {"shell": False, "environment": {"variables": [
            {"name": k, "value": v, "type": "VALUE"} for k, v in env.items()]}},
        "container": {
            "type": "DOCKER",
            "hostname": spec.name,
            "docker": {"image": spec.image, "network": "USER", "force_pull_image": False,
                       "parameters": parameters},
            "network_infos": [{"name": network_name(i.network),
                               "ip_addresses": [{"ip_address": i.address}]}
                              for i in spec.interfaces],
            "volumes": [{"container_path": m.destination, "host_path": m.source,
                         "mode": "RO" if m.mode == "ro" else "RW"} for m in spec.mounts],
        },
        "labels": {"labels": [{"key": k, "value": v} for k, v in labels.items()]},
    }


def agents_from(raw: list[dict]) -> dict[str, Agent]:
    """The active agents of an operator API GET_AGENTS answer, by agent id."""
    agents = {}
    for a in raw:
        if a.get("active") is False:
            continue
        info = a.get("agent_info", {})
        res = a.get("total_resources") or info.get("resources", [])
        agent_id = info.get("id", {}).get("value", "")
        agents[agent_id] = Agent(agent_id, info.get("hostname", agent_id), _scalar(res, "cpus"),
                                 _scalar(res, "mem"), sorted(_set(res, "dataDisks")),
                                 _attributes(info.get("attributes", [])))
    return agents

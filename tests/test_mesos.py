"""The mesos engine against the Mesos master test double (tests/mesos_double.py),
which runs the tasks' Docker containers on the local engine."""
from __future__ import annotations

import ipaddress
import uuid

import docker
import pytest

from api.engines.base import LABEL_PLATFORM, InterfaceSpec, NodeSpec
from api.engines.docker import EngineError
from api.engines.mesos import STATE_KEY, MesosEngine
from support.common import exec_in, wait_for
from support.mesos_double import DOUBLE_LABEL, Agent, MesosMasterDouble

REFERENCE = ("reference", "1.0.0")


@pytest.fixture(scope="module")
def reference_image(docker_client):
    from api.core.config import REPO_ROOT
    from api.engines import images
    return images.ensure_product_image(REPO_ROOT / "products/reference/1.0.0", *REFERENCE,
                                       client=docker_client, log=lambda *a: None)


def _free_subnets(docker_client, count: int) -> list[str]:
    taken = [ipaddress.ip_network(c["Subnet"]) for n in docker_client.api.networks()
             for c in ((n.get("IPAM") or {}).get("Config") or []) if c.get("Subnet")]
    found = []
    for third in range(40, 250):
        net = ipaddress.ip_network(f"10.{third}.{uuid.uuid4().int % 250}.0/24")
        if not any(net.overlaps(t) for t in taken + found):
            found.append(net)
        if len(found) == count:
            return [str(n) for n in found]
    pytest.fail("no free /24 for the test networks")


class Site:
    """What a Mesos site provides: a master (the double), docker networks on the agents
    and data disks under each agent's `bdp_disks_root`."""

    def __init__(self, docker_client, tmp_path, agents):
        self.prefix = f"bdpm{uuid.uuid4().hex[:6]}-"
        self.subnets = dict(zip(("admin", "storage"), _free_subnets(docker_client, 2)))
        self.networks = [docker_client.networks.create(
            self.prefix + name, driver="bridge", ipam=docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=subnet)]))
            for name, subnet in self.subnets.items()]
        self.disks_root = tmp_path / "agent-disks"
        for agent in agents:
            agent.attributes.setdefault("bdp_disks_root", str(self.disks_root))
        self.double = MesosMasterDouble(agents, docker_client).start()

    def env(self) -> dict:
        return {"BDP_MESOS_NETWORK_PREFIX": self.prefix, "BDP_ADMIN_SUBNET": self.subnets["admin"],
                "BDP_STORAGE_SUBNET": self.subnets["storage"]}

    def interface(self, device, network, index):
        subnet = ipaddress.ip_network(self.subnets[network])
        return InterfaceSpec(device, network, str(subnet), str(subnet[1]), str(subnet[index]))

    def close(self):
        self.double.stop()
        for net in self.networks:
            net.remove()


@pytest.fixture
def site_factory(docker_client, tmp_path):
    sites = []

    def make(agents):
        sites.append(Site(docker_client, tmp_path, agents))
        return sites[-1]
    yield make
    for site in sites:
        site.close()


@pytest.fixture
def engine_for(platform):
    engines = []

    def make(site, start_timeout=20):
        platform.settings.engine = "mesos"
        platform.settings.mesos_master = site.double.url
        platform.settings.mesos_network_prefix = site.prefix
        platform.settings.start_timeout = start_timeout
        engines.append(MesosEngine(platform.settings))
        return engines[-1]
    yield make
    for engine in engines:
        engine.close()


def node_spec(site, engine, name="node1", cpu=0.5, mem=128, image="bdp/base:bookworm", index=10):
    return NodeSpec(cluster_id=7, cluster_dn="clusters/alice/reference/1.0.0/1", name=name,
                    host="agent1", image=image, cpu=cpu, mem=mem,
                    interfaces=[site.interface("eth0", "admin", index)],
                    env={"BDP_AUTHORIZED_KEYS": ""})


# --------------------------------------------------------------------------- engine level

def test_offers_become_hosts_and_unwanted_offers_are_declined(site_factory, engine_for):
    site = site_factory([Agent("agent1", 2, 2048, ["disk1", "disk2"]), Agent("agent2", 1, 512)])
    engine = engine_for(site)
    hosts = {h.name: h for h in engine.hosts()}
    assert (hosts["agent1"].cpus, hosts["agent1"].mem) == (2, 2048)
    assert hosts["agent1"].disks == [("disk1", f"{site.disks_root}/disk1"),
                                     ("disk2", f"{site.disks_root}/disk2")]
    assert hosts["agent2"].disks == [] and hosts["agent2"].attributes["engine"] == "mesos"
    assert site.double.subscriptions() == []  # listing hosts does not make a scheduler
    assert engine.list_nodes() == []  # subscribes and reconciles: no tasks yet
    # Nothing is waiting: every offer goes back, with a filter so it is not re-sent at once.
    declines = wait_for(lambda: site.double.calls_of("DECLINE"), 10, message="a DECLINE")
    assert declines[0]["decline"]["filters"]["refuse_seconds"] > 0
    wait_for(lambda: not site.double.offers, 5, message="no offer held")
    assert site.double.calls_of("ACCEPT") == []
    # The framework id is in the registry for the next start.
    from api.core.models import State
    assert State.get(State.key == STATE_KEY).value in site.double.frameworks


def test_offer_too_small_fails_with_what_was_offered(site_factory, engine_for):
    site = site_factory([Agent("agent1", 0.25, 512)])
    engine = engine_for(site, start_timeout=2)
    with pytest.raises(EngineError) as err:
        engine.start_node(node_spec(site, engine, cpu=0.5))
    assert "no Mesos offer fits 0.5 cpus, 128 MB on agent1" in str(err.value)
    assert "latest offer from agent1: 0.25 cpus, 512 MB" in str(err.value)
    assert site.double.calls_of("REVIVE")  # it asked for offers again before waiting
    assert site.double.calls_of("ACCEPT") == []


def test_rescinded_offer_lost_task_and_resubscription(site_factory, engine_for, docker_client,
                                                      reference_image):
    site = site_factory([Agent("agent1", 2, 2048, ["disk1"])])
    engine = engine_for(site)
    double = site.double
    spec = node_spec(site, engine, image=reference_image)

    double.rescind_next_accept()  # the offer is gone when the ACCEPT lands
    tid = engine.start_node(spec)
    assert tid == "bdp-7-node1"
    assert len(double.calls_of("ACCEPT")) == 2  # it waited for a new offer and launched again
    task = double.task(tid)
    container = docker_client.containers.get(task.container_id)
    assert container.status == "running"
    assert container.attrs["Config"]["Hostname"] == "node1"
    assert container.labels[LABEL_PLATFORM] == str(engine.settings.data_dir)
    nets = container.attrs["NetworkSettings"]["Networks"]
    assert nets[site.prefix + "admin"]["IPAMConfig"]["IPv4Address"] == spec.interfaces[0].address
    assert container.attrs["HostConfig"]["NanoCpus"] == 500_000_000
    assert engine.node_state(7, "node1").state == "running"
    assert exec_in(docker_client, task.container_id, ["hostname"]) == (0, "node1\n")
    wait_for(lambda: not double.unacked, 5, message="every update acknowledged")

    # The master fails over: the engine re-subscribes as the same framework and
    # reconciles; the task is still there, not launched again.
    fid = double.subscriptions()[-1] or next(iter(double.frameworks))
    double.restart_streams()
    wait_for(lambda: len(double.subscriptions()) == 2, 10, message="a second SUBSCRIBE")
    assert double.subscriptions()[1] == fid
    wait_for(lambda: double.calls_of("RECONCILE"), 5, message="a RECONCILE")
    assert engine.node_state(7, "node1").state == "running"
    assert [s.name for s in engine.list_nodes()] == ["node1"]

    double.lose_task(tid, "agent1 rebooted")
    state = wait_for(lambda: (s := engine.node_state(7, "node1")).state == "failed" and s, 5,
                     message="the node failed")
    assert "TASK_LOST (REASON_AGENT_REMOVED): agent1 rebooted" in state.logs
    assert engine.list_nodes() == []
    engine.remove_node(7, "node1")  # nothing left to kill: harmless
    assert not docker_client.containers.list(all=True, filters={"label": f"{DOUBLE_LABEL}={double.id}"})


# --------------------------------------------------------------------------- end to end

def test_a_cluster_no_agent_could_ever_run_is_refused_at_launch(site_factory, server_factory):
    """Agents too small for a node: refused with the reason at once (issue 11), rather
    than waiting for the scheduling timeout; nothing is registered, nothing accepted."""
    site = site_factory([Agent("agent1", 0.25, 2048, ["disk1", "disk2"])])
    server = server_factory(extra_args=["--engine", "mesos", "--mesos-master", site.double.url],
                            env={**site.env(), "BDP_SCHEDULING_TIMEOUT": "3"}).start()
    http = server.http()
    assert [h["name"] for h in http.get("/hosts").json()] == ["agent1"]  # the agents are known
    answer = http.post("/products/reference/1.0.0", json={"size": 2})
    assert answer.status_code == 400
    assert answer.json()["field"] == "nodes.node1"
    assert ("node node1 needs 0.5 cpus, 256 MB and 1 disks; the largest host, agent1, has 0.25 cpus"
            in answer.json()["message"])
    assert http.get("/clusters").json() == {"clusters": [], "next": None}
    assert site.double.calls_of("ACCEPT") == []


def _launch(http, size=2):
    answer = http.post("/products/reference/1.0.0", json={"size": size})
    assert answer.status_code == 202, answer.text
    return answer.json()["cluster"].split("/bigdata/api/v1", 1)[-1]


def _status(http, uri):
    return http.get(uri).json()["status"]


def test_reference_cluster_on_mesos_ready_survives_restart_and_destroys(
        site_factory, server_factory, docker_client, reference_image, tmp_path):
    site = site_factory([Agent("agent1", 2, 2048, ["disk1", "disk2", "disk3"])])
    double = site.double
    args = ["--engine", "mesos", "--mesos-master", double.url]
    server = server_factory(extra_args=args, env=site.env()).start()
    http = server.http()
    uri = _launch(http)
    wait_for(lambda: _status(http, uri) in ("ready", "failed"), 240, interval=1,
             message="ready")
    assert http.get(uri).json()["status"] == "ready", http.get(uri + "/events").text
    nodes = http.get(uri + "/nodes").json()["nodes"]
    tasks = {n["name"]: double.task(n["id"]) for n in nodes}
    assert {n["host"] for n in nodes} == {"agent1"}
    for node in nodes:
        task = tasks[node["name"]]
        # The task holds the agent disk the registry gave the node (the dataDisks set).
        assert task.state == "TASK_RUNNING" and task.disks == {node["disks"][0]["disk"]}
        container = docker_client.containers.get(task.container_id)
        addresses = {net: cfg["IPAMConfig"]["IPv4Address"]
                     for net, cfg in container.attrs["NetworkSettings"]["Networks"].items()}
        assert addresses == {site.prefix + n["networkname"]: n["address"] for n in node["networks"]}

    # A restarted platform re-subscribes as the same framework and adopts its tasks.
    fid = double.subscriptions()[0] or next(iter(double.frameworks))
    launches = len(double.calls_of("ACCEPT"))
    server.kill9()
    server.start()
    wait_for(lambda: len(double.subscriptions()) >= 2, 30, message="a second SUBSCRIBE")
    assert double.subscriptions()[-1] == fid
    wait_for(lambda: double.calls_of("RECONCILE"), 10, message="a RECONCILE")
    assert _status(http, uri) == "ready"
    assert len(double.calls_of("ACCEPT")) == launches  # nothing launched again
    assert all(t.state == "TASK_RUNNING" for t in tasks.values())

    # Destroy kills the tasks and frees every address and disk.
    assert http.delete(uri).status_code in (202, 204)
    wait_for(lambda: _status(http, uri) == "destroyed", 60, interval=0.5, message="destroyed")
    assert all(t.state == "TASK_KILLED" for t in tasks.values())
    assert not docker_client.containers.list(all=True, filters={"label": f"{DOUBLE_LABEL}={double.id}"})
    for net in ("admin", "storage"):
        assert http.get(f"/networks/{net}").json()["used"] == 0
    disks = http.get("/hosts/agent1/disks").json()
    assert disks and all(d["status"] == "free" for d in disks)
    assert not double.unacked


def test_lost_task_of_a_scheduled_cluster_fails_its_node_and_cluster(site_factory, engine_for, platform,
                                                                    docker_client):
    from api.core import status as st
    from api.core.models import Cluster, Event, Node
    from api.framework.controller import Framework
    from support.framework import make_cluster

    site = site_factory([Agent("agent1", 2, 2048)])
    engine = engine_for(site)
    platform.__dict__["engine"] = engine  # the framework uses this engine (cached property)
    cluster = make_cluster({"node1": {"image": "bdp/base:bookworm", "networks": []}},
                           status=st.SCHEDULED)
    spec = node_spec(site, engine)
    spec.cluster_id = cluster.id
    tid = engine.start_node(spec)
    Node.update(status="running", container_id=tid).where(Node.cluster == cluster.id).execute()
    framework = Framework(platform)
    framework.survey()
    framework.survey()
    assert Node.get(Node.cluster == cluster.id).status == "running"  # a running task: untouched

    site.double.lose_task(tid, "agent1 rebooted")
    wait_for(lambda: engine.node_state(cluster.id, "node1").state == "failed", 5, message="task lost")
    framework.survey()
    framework.survey()
    node = Node.get(Node.cluster == cluster.id)
    assert node.status == "failed"
    assert node.reason == (f"node node1 failed: Mesos task {tid} on agent1 is TASK_LOST "
                           "(REASON_AGENT_REMOVED): agent1 rebooted")
    cluster = Cluster.get_by_id(cluster.id)
    assert (cluster.status, cluster.reason) == (st.FAILED, node.reason)
    assert Event.select().where((Event.cluster == cluster.id) & (Event.message == node.reason)).count() == 1

"""A host that stops answering, without Docker: the monitor's judgement against the
registry's clock, the nodes it marks lost, the health it gives their clusters, and what
the survey's recovery does once the host is back (a test double stands in for the
engine, since what is tested is the framework's bookkeeping)."""
from __future__ import annotations

import datetime as dt

from api.core import status as st
from api.core.models import Address, Cluster, Disk, Event, Host, Interface, Node, Product, User, utcnow
from api.core.status import Health, NodeStatus
from api.framework import recovery
from api.framework.host_monitor import HostMonitor
from api.infra import network as networks
from support.host_doubles import EngineDouble, PlatformDouble


def _cluster(status=st.READY, user="alice", nodes=2, host=None) -> Cluster:
    owner, _ = User.get_or_create(name=user)
    product, _ = Product.get_or_create(name="reference", version="1.0.0")
    cluster = Cluster.create(user=owner, product=product, seq=Cluster.select().count() + 1, status=status)
    for i in range(1, nodes + 1):
        Node.create(cluster=cluster, name=f"node{i}", host=host, status=NodeStatus.RUNNING)
    return cluster


def _messages(cluster) -> list[str]:
    return [e.message for e in Event.select().where(Event.cluster == cluster.id).order_by(Event.id)]


def test_a_host_silent_past_the_timeout_is_lost_with_its_nodes_and_comes_back(platform):
    assert platform.settings.host_timeout == 20  # BDP_HOST_TIMEOUT's default
    engine = EngineDouble()
    monitor = HostMonitor(PlatformDouble(platform.settings, engine))
    now = utcnow()
    host = Host.create(name="node-a", url="tcp://192.0.2.11:2375", last_seen=now - dt.timedelta(seconds=19))
    cluster = _cluster(host=host)
    assert monitor.judge() is False  # 19 s: not yet
    Host.update(last_seen=now - dt.timedelta(seconds=20)).execute()
    assert monitor.judge() is True
    host = Host.get_by_id(host.id)
    assert host.lost_since is not None
    nodes = list(Node.select().where(Node.cluster == cluster))
    assert {n.status for n in nodes} == {NodeStatus.LOST}
    assert all(n.reason.startswith("host node-a lost: no answer for 20s") for n in nodes)
    assert any("host node-a lost" in m and "node(s) node1, node2 lost" in m for m in _messages(cluster))
    assert Cluster.get_by_id(cluster.id).status == st.READY  # the lifecycle status stays

    # Health: degraded, naming each node and why; the cluster view shows it.
    assert recovery.refresh_health() is True
    c = Cluster.get_by_id(cluster.id)
    assert c.health == Health.DEGRADED
    assert [(p["node"], p["status"]) for p in c.problems] == [("node1", "lost"), ("node2", "lost")]
    assert "health degraded: node node1 lost; node node2 lost" in _messages(cluster)

    # The host answers again: active, and the survey adopts node1 (its container runs)
    # and fails node2 (its container is gone).
    Host.update(last_seen=utcnow()).execute()
    assert monitor.judge() is True and Host.get_by_id(host.id).lost_since is None
    assert engine.returned == ["node-a"]
    engine.running = {(cluster.id, "node1")}
    assert recovery.readopt(engine, engine.states(), set()) is True
    got = {n.name: (n.status, n.reason) for n in Node.select().where(Node.cluster == cluster)}
    assert got["node1"] == (NodeStatus.RUNNING, "")
    assert got["node2"][0] == NodeStatus.FAILED and "came back without it" in got["node2"][1]
    recovery.refresh_health()
    assert [p["node"] for p in Cluster.get_by_id(cluster.id).problems] == ["node2"]
    Node.update(status=NodeStatus.RUNNING, reason="").execute()
    recovery.refresh_health()
    assert Cluster.get_by_id(cluster.id).health == Health.HEALTHY
    assert _messages(cluster)[-1] == "health healthy: every node runs"


def test_lost_nodes_stay_lost_while_their_host_is_silent(platform):
    engine = EngineDouble()
    host = Host.create(name="node-a", url="tcp://192.0.2.11:2375", last_seen=utcnow())
    cluster = _cluster(host=host)
    Node.update(status=NodeStatus.LOST).execute()
    assert recovery.readopt(engine, engine.states(), {"node-a"}) is False
    Host.update(lost_since=utcnow()).execute()
    assert recovery.readopt(engine, engine.states(), set()) is False
    assert {n.status for n in Node.select().where(Node.cluster == cluster)} == {NodeStatus.LOST}


def test_what_a_destroy_left_on_a_lost_host_is_cleaned_and_given_back_on_return(platform):
    engine = EngineDouble()
    net = networks.create_network(name="lab", subnet="10.244.0.0/16", isolation="tenant")
    host = Host.create(name="node-a", url="tcp://192.0.2.11:2375", lost_since=utcnow())
    disk = Disk.create(host=host, name="d1", path="/srv/node-a/d1")
    cluster = _cluster(status=st.DESTROYED, nodes=1, host=host)
    node = Node.get(Node.cluster == cluster)
    Disk.update(node=node).execute()
    iface = Interface.create(node=node, device="eth0", network=net)
    networks.allocate(iface, "vxlan", 4096)
    Node.update(status=NodeStatus.DESTROYED).execute()
    assert [n.name for n in recovery.pending_nodes()] == ["node1"]
    # Still away: nothing happens, nothing is given back.
    assert recovery.clean_pending(engine, set()) is False
    assert Disk.get_by_id(disk.id).node_id == node.id and Address.select().count() == 1
    # Back: container removed, data deleted there, disk and address given back.
    Host.update(lost_since=None).execute()
    assert recovery.clean_pending(engine, set()) is True
    assert engine.removed == [(cluster.id, "node1")]
    assert engine.cleaned == [("node-a", [f"/srv/node-a/d1/{cluster.dn.replace('/', '%2F')}"])]
    assert Disk.get_by_id(disk.id).node_id is None and Address.select().count() == 0
    assert recovery.pending_nodes() == []
    assert any(m.startswith("node node1 cleaned up on host node-a") for m in _messages(cluster))


def test_a_failed_cluster_releases_now_what_it_can_and_the_rest_when_its_lost_host_returns(platform):
    """issue 11's release of a failed cluster meets a lost host: the node there keeps its
    disk (and place) until the host answers, and the cluster is not retried meanwhile."""
    from concurrent.futures import ThreadPoolExecutor

    from api.framework import release
    engine = EngineDouble()
    engine.list_nodes = engine.states
    engine.silent_hosts = set
    here = Host.create(name="node-a", url="tcp://192.0.2.11:2375", last_seen=utcnow())
    away = Host.create(name="node-b", url="tcp://192.0.2.12:2375", last_seen=utcnow(), lost_since=utcnow())
    cluster = _cluster(status=st.FAILED, nodes=2, host=here)
    node1, node2 = Node.select().where(Node.cluster == cluster).order_by(Node.id)
    Node.update(host=away, status=NodeStatus.LOST).where(Node.id == node2.id).execute()
    for host, node in ((here, node1), (away, node2)):
        Disk.create(host=host, name="d1", path=f"/srv/{host.name}/d1", node=node)
    starts = ThreadPoolExecutor(2)
    assert release.pending("me") == [cluster.id]
    message = release.release(engine, cluster, starts)
    assert message.startswith("released 1 containers, 0 addresses and 1 disks")
    assert "node(s) node2 on host(s) away (node-b) are released when their host answers again" in message
    assert engine.removed == [(cluster.id, "node1")]
    assert Disk.get(Disk.host == away).node_id == node2.id and Disk.get(Disk.host == here).node_id is None
    assert Node.get_by_id(node2.id).host_id == away.id
    assert release.pending("me") == []  # nothing to do while node-b is lost
    # node-b answers again: the cluster is pending again, and node2 goes now.
    Host.update(lost_since=None).where(Host.id == away.id).execute()
    assert release.pending("me") == [cluster.id]
    assert release.release(engine, cluster, starts).startswith("released 1 containers, 0 addresses and 1 disks")
    assert engine.removed[-1] == (cluster.id, "node2") and Disk.get(Disk.host == away).node_id is None
    assert release.pending("me") == [] and Cluster.get_by_id(cluster.id).status == st.FAILED
    starts.shutdown()

"""Day-2 node changes meet lost and drained hosts, without Docker (test doubles stand in
for the engine and the launcher: what is tested is the framework's bookkeeping): a node
replaced off a lost host is placed on another one (never a drained or lost one) with the
same address and new disks, what it left on the lost host stays held until the host
answers and goes then; a node removed from a lost host waits for it."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from api.core import status as st
from api.core.models import (
    Address,
    Cluster,
    ClusterDocument,
    Disk,
    Event,
    Host,
    Interface,
    Node,
    NodeDisk,
    Product,
    User,
    utcnow,
)
from api.core.status import NodeStatus
from api.engines.base import NodeState
from api.framework import changes, recovery
from api.infra import network as networks


class EngineDouble:
    name = "docker"

    def __init__(self):
        self.removed, self.reaped, self.cleaned = [], [], []
        self.silent: set[str] = set()

    def silent_hosts(self):
        return set(self.silent)

    def remove_node(self, cluster_id, name):
        self.removed.append((cluster_id, name))

    def reap(self, state):
        self.reaped.append((state.host, state.name))

    def clean_disks(self, host, paths):
        self.cleaned.append((host, paths))


class LauncherDouble:
    """Starts a node by saying it runs (where placement put it)."""
    def __init__(self):
        self.started: list[tuple[str, str]] = []

    def ensure_image(self, cluster, image):
        pass

    def spec(self, cluster, node, members=None):
        return node.name

    def get_ready(self, cluster, nodes, specs):
        pass

    def start_node(self, cluster, node, spec, deadline, abort, statuses):
        self.started.append((node.name, Host.get_by_id(Node.get_by_id(node.id).host_id).name))
        Node.update(status=NodeStatus.RUNNING).where(Node.id == node.id).execute()
        return None


class FrameworkDouble:
    def __init__(self, settings):
        self.settings = settings
        self.engine = EngineDouble()
        self.launcher = LauncherDouble()
        self._starts = ThreadPoolExecutor(2)
        self.platform = self

    def wake(self, component=None):
        pass


@pytest.fixture
def fw(platform):
    framework = FrameworkDouble(platform.settings)
    yield framework
    framework._starts.shutdown()


def _site():
    """Hosts node-a (lost), node-b (drained), node-c (active), a disk each; a ready cluster
    whose node1 runs on node-a with that disk and an address on a tenant network."""
    hosts = {name: Host.create(name=name, url=f"tcp://192.0.2.{i}:2375", cpus=4, mem=4096)
             for i, name in enumerate(("node-a", "node-b", "node-c"), start=11)}
    Host.update(lost_since=utcnow()).where(Host.name == "node-a").execute()
    Host.update(state="drain").where(Host.name == "node-b").execute()
    disks = {name: Disk.create(host=h, name="d1", path=f"/srv/{name}/d1") for name, h in hosts.items()}
    user = User.create(name="alice")
    product = Product.create(name="reference", version="1.0.0")
    cluster = Cluster.create(user=user, product=product, seq=1, status=st.READY)
    ClusterDocument.create(cluster=cluster, document={"nodes": {"node1": {}}})
    node = Node.create(cluster=cluster, name="node1", host=hosts["node-a"], status=NodeStatus.LOST,
                       cpu=1, mem=512)
    Disk.update(node=node).where(Disk.id == disks["node-a"].id).execute()
    NodeDisk.create(node=node, name="data", destination="/data/1", disk=disks["node-a"])
    net = networks.create_network(name="lab", subnet="10.244.0.0/16", isolation="tenant")
    iface = Interface.create(node=node, device="eth0", network=net)
    networks.allocate(iface, "vxlan", 4096)
    return hosts, disks, cluster, node


def _messages(cluster) -> list[str]:
    return [e.message for e in Event.select().where(Event.cluster == cluster.id).order_by(Event.id)]


def test_a_node_replaced_off_a_lost_host_goes_elsewhere_and_its_leftovers_wait_for_the_host(fw):
    hosts, disks, cluster, node = _site()
    address = Interface.get().address
    Node.update(status=NodeStatus.REPLACING).execute()
    assert changes.pending("me") == [cluster.id]
    assert changes.apply(fw, cluster) is True
    # Nothing asked of the lost host; placed on node-c (node-b is drained), same address,
    # a new disk there; node-a's disk still held by the node, its data not yet deleted.
    assert fw.engine.removed == [] and fw.launcher.started == [("node1", "node-c")]
    moved = Node.get_by_id(node.id)
    assert (moved.status, moved.host_id) == (NodeStatus.RUNNING, hosts["node-c"].id)
    assert Interface.get().address == address and Address.select().count() == 1
    assert NodeDisk.get().disk_id == disks["node-c"].id
    assert Disk.get_by_id(disks["node-a"].id).node_id == node.id
    assert any("starting it again on another host (host node-a is lost)" in m for m in _messages(cluster))
    assert recovery.release_left_disks(fw.engine, set()) is False and fw.engine.cleaned == []

    # node-a answers again: its old container goes (not the one on node-c), then the old
    # disk's data, and the disk is free.
    Host.update(lost_since=None).where(Host.name == "node-a").execute()
    states = [NodeState(state="running", host=h, cluster_id=cluster.id, name="node1")
              for h in ("node-a", "node-c")]
    assert recovery.reap_strays(fw.engine, states, set()) is True
    assert fw.engine.reaped == [("node-a", "node1")]
    assert "host node-a: the old container of node node1 was removed (the node runs on host " \
           "node-c now)" in _messages(cluster)
    assert recovery.release_left_disks(fw.engine, {"node-a"}) is False  # silent: not yet
    assert recovery.release_left_disks(fw.engine, set()) is True
    assert fw.engine.cleaned == [("node-a", [f"/srv/node-a/d1/{cluster.dn.replace('/', '%2F')}"])]
    assert Disk.get_by_id(disks["node-a"].id).node_id is None
    assert NodeDisk.get().disk_id == disks["node-c"].id  # the new one stays
    assert recovery.release_left_disks(fw.engine, set()) is False


def test_a_node_replaced_off_a_drained_host_gives_its_disk_back_at_once(fw):
    hosts, disks, cluster, node = _site()
    Host.update(lost_since=None, state="drain").where(Host.name == "node-a").execute()
    Host.update(state="active").where(Host.name == "node-b").execute()
    Node.update(status=NodeStatus.REPLACING).execute()
    changes.apply(fw, cluster)
    # The drained host answers: the container is removed there, the data deleted, the
    # disk free; the node runs on an active host.
    assert fw.engine.removed == [(cluster.id, "node1")]
    assert [h for h, _ in fw.engine.cleaned] == ["node-a"]
    assert Disk.get_by_id(disks["node-a"].id).node_id is None
    assert fw.launcher.started[0][1] in ("node-b", "node-c")


def test_a_replacement_with_no_host_left_fails_naming_every_host(fw):
    hosts, disks, cluster, node = _site()
    Host.update(state="drain").where(Host.name == "node-c").execute()
    Node.update(status=NodeStatus.REPLACING).execute()
    changes.apply(fw, cluster)
    failed = Node.get_by_id(node.id)
    assert failed.status == NodeStatus.FAILED and failed.reason.startswith("cannot be placed: ")
    for host in ("node-a", "node-b", "node-c"):
        assert f"{host}: " in failed.reason, failed.reason
    assert Cluster.get_by_id(cluster.id).status == st.READY  # the operation fails, not the cluster


def test_a_node_removed_from_a_lost_host_keeps_what_it_holds_until_the_host_answers(fw):
    hosts, disks, cluster, node = _site()
    Node.update(status=NodeStatus.REMOVING).execute()
    # Not claimed while its host is lost (nothing to do), nothing given back.
    assert changes.pending("me") == []
    changes.apply(fw, cluster)
    kept = Node.get_by_id(node.id)
    assert kept.status == NodeStatus.REMOVING and "when host node-a answers again" in kept.reason
    assert Address.select().count() == 1 and Disk.get_by_id(disks["node-a"].id).node_id == node.id
    # Back: the container, the data, the disk and the address go, and the node's rows.
    Host.update(lost_since=None).where(Host.name == "node-a").execute()
    assert changes.pending("me") == [cluster.id]
    changes.apply(fw, cluster)
    assert fw.engine.removed == [(cluster.id, "node1")] and [h for h, _ in fw.engine.cleaned] == ["node-a"]
    assert Node.get_or_none(Node.id == node.id) is None
    assert Address.select().count() == 0 and Disk.get_by_id(disks["node-a"].id).node_id is None

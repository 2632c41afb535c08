"""The framework against the real Docker Engine: placement, containers, addresses, disks,
clear waiting/failure reasons, and a destroy that gives everything back."""
from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import docker
import pytest

from api.catalog.bundle import sync_bundles
from api.core import status as st
from api.core.config import API_PREFIX as API
from api.core.models import Address, Cluster, Disk, Event, Interface, Node
from api.engines.base import LABEL_CLUSTER, LABEL_PLATFORM
from api.framework.controller import Framework
from api.infra.disk import flatten_dn
from api.infra.network import create_network
from support.common import exec_in
from support.framework import make_cluster, nodes, step_until
from support.orchestrator import free_subnet
from support.server import remove_platform_containers


@pytest.fixture
def fw(platform, docker_client):
    platform.settings.disks = 8
    framework = Framework(platform)
    framework._prepare()  # hosts, default networks
    yield framework
    framework.close()
    remove_platform_containers(docker_client, platform.settings.data_dir)


def events(cluster_id: int) -> list[str]:
    return [e.message for e in Event.select().where(Event.cluster == cluster_id).order_by(Event.id)]


def assert_nothing_held(cluster_id: int) -> None:
    assert Address.select().join(Interface).join(Node).where(Node.cluster == cluster_id).count() == 0
    assert Disk.select().join(Node).where(Node.cluster == cluster_id).count() == 0
    assert Node.select().where((Node.cluster == cluster_id) & Node.host.is_null(False)
                               & (Node.status != "destroyed")).count() == 0


def containers_of(docker_client, platform, cluster_id: int) -> list:
    return docker_client.containers.list(all=True, sparse=True, filters={"label": [
        f"{LABEL_PLATFORM}={platform.settings.data_dir}", f"{LABEL_CLUSTER}={cluster_id}"]})


def test_reference_cluster_runs_with_its_resources_and_destroy_frees_them(platform, fw, client,
                                                                           docker_client):
    """The done-when of issue 3, through the API: launch reference {"size": 3, "disks": 2}."""
    sync_bundles(platform.settings.products_dir)
    image_was_missing = not docker_client.images.list(name="bdp/reference:1.0.0")
    launched = client.simulate_post(f"{API}/products/reference/1.0.0",
                                    json={"size": 3, "disks": 2, "cpu": 0.25, "mem": 128})
    assert launched.status_code == 202, launched.json
    cluster_uri = launched.headers["location"]
    cluster = Cluster.get(Cluster.seq == launched.json["id"])
    cluster = step_until(fw, cluster.id, {st.SCHEDULED, st.FAILED}, timeout=600)
    assert cluster.status == st.SCHEDULED, cluster.reason
    view = client.simulate_get(cluster_uri).json
    assert (view["status"], view["progress"], view["step"]) == ("scheduled", 100, "3/3")
    if image_was_missing:
        assert "building image bdp/reference:1.0.0" in events(cluster.id)

    engine = platform.engine
    views = client.simulate_get(cluster_uri + "/nodes").json["nodes"]
    assert [v["name"] for v in views] == ["node1", "node2", "node3"]
    host = docker_client.info()["Name"]
    seen_addresses, seen_disks = set(), set()
    for view in views:
        assert view["status"] == "running" and view["host"] == host and view["id"]
        assert (view["cpu"], view["mem"]) == (0.25, 128)
        info = docker_client.api.inspect_container(view["id"])
        # bdp-<id>-<node>, with a suffix when another platform on the engine has that name
        assert info["Name"].startswith(f"/bdp-{cluster.id}-{view['name']}")
        assert info["Config"]["Hostname"] == view["name"]
        assert info["HostConfig"]["NanoCpus"] == 250_000_000
        assert info["HostConfig"]["Memory"] == 128 * 2**20
        # Static addresses: docker's view, the registry's view and the node's own eth0/eth1.
        attached = {name: ep["IPAddress"] for name, ep in info["NetworkSettings"]["Networks"].items()}
        rc, out = exec_in(docker_client, view["id"], ["ip", "-4", "-o", "addr", "show"])
        assert rc == 0
        assert [(i["device"], i["networkname"]) for i in view["networks"]] == [
            ("eth0", "admin"), ("eth1", "storage")]
        for iface in view["networks"]:
            # On the tenant's own segment of the network (a docker bridge of its own here).
            net = next(n for n, a in attached.items() if a == iface["address"])
            pool = docker_client.api.inspect_network(net)["IPAM"]["Config"][0]["Subnet"]
            assert pool == iface["subnet"] and ipaddress.ip_address(iface["address"]) in \
                ipaddress.ip_network(iface["subnet"])
            assert net.startswith(f"bdp-{iface['networkname']}-s") and net.endswith(engine.network_suffix)
            assert f"{iface['device']}    inet {iface['address']}/24" in out
            seen_addresses.add((iface["networkname"], iface["address"]))
        # Two distinct host disks, bind-mounted from per-cluster origin directories.
        mounts = {m["Destination"]: m["Source"] for m in info["Mounts"]}
        assert [d["destination"] for d in view["disks"]] == ["/data/1", "/data/2"]
        for d in view["disks"]:
            assert d["disk"] and mounts[d["destination"]] == str(
                Path(d["path"]) / flatten_dn(cluster.dn) / view["name"])
            seen_disks.add(d["disk"])
        rc, _ = exec_in(docker_client, view["id"], ["sh", "-c", "echo x > /data/2/probe"])
        assert rc == 0
    assert len(seen_addresses) == 6 and len(seen_disks) == 6
    disks_view = client.simulate_get(f"{API}/hosts/{host}/disks").json
    assert len(disks_view) == 8
    owned = [d for d in disks_view if d["status"] == "used"]
    assert {d["owner"]["cluster"] for d in owned} == {cluster.dn} and len(owned) == 6
    used = client.simulate_get(f"{API}/networks/storage/addresses", query_string="used").json
    assert sorted(a["node"] for a in used) == ["node1", "node2", "node3"]

    assert client.simulate_delete(cluster_uri).status_code == 202
    cluster = step_until(fw, cluster.id, {st.DESTROYED}, timeout=120)
    assert not containers_of(docker_client, platform, cluster.id)
    assert_nothing_held(cluster.id)
    for name in ("admin", "storage"):
        assert client.simulate_get(f"{API}/networks/{name}/addresses", query_string="used").json == []
    assert all(d["status"] == "free" for d in client.simulate_get(f"{API}/hosts/{host}/disks").json)
    for disk in Disk.select():
        assert not (Path(disk.path) / flatten_dn(cluster.dn)).exists()
    # Destroying twice is harmless.
    assert client.simulate_delete(cluster_uri).status_code == 202
    fw.step()
    assert client.simulate_get(cluster_uri).json["status"] == "destroyed"


@pytest.mark.parametrize("case", ["cpu", "mem", "disks", "addresses", "required_host"])
def test_cluster_that_cannot_fit_waits_with_a_clear_reason_then_fails(platform, fw, case):
    settings = platform.settings
    spec = {"disks": 1}
    count = 2
    if case == "cpu":
        spec["cpu"] = settings.cpu_overcommit * 64  # more than any offer
        expected = f"node node1 needs {int(spec['cpu'])} cpus; largest free offer:"
    elif case == "mem":
        spec["mem"] = 10**8
        expected = "node node1 needs 100000000 MB of memory; largest free offer:"
    elif case == "disks":
        spec["disks"] = 5  # 8 disks: node1 takes 5, node2 finds 3
        expected = "node node2 needs 5 disks; largest free offer: 3 disks on host"
    elif case == "addresses":
        tiny = next(free_subnet(platform.engine).subnets(new_prefix=29))  # unused on the engine
        create_network(name="tiny", subnet=str(tiny), range_start=str(tiny[2]), range_end=str(tiny[3]))
        spec["networks"] = ["admin", "tiny"]
        count = 3
        expected = "node node3 needs an address for eth1: network tiny has no free address"
    else:
        spec["required_host"] = "nosuchhost"
        expected = "node node1 requires host nosuchhost, which does not exist (hosts: "
    cluster = make_cluster(nodes(count, **spec))
    for _ in range(3):
        fw.step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.SCHEDULING
    waiting = [m for m in events(cluster.id) if m.startswith("waiting for resources")]
    assert len(waiting) == 1, events(cluster.id)  # said once, not once per pass
    assert expected in waiting[0], waiting[0]
    assert_nothing_held(cluster.id)

    settings.scheduling_timeout = 0
    fw.step()
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED
    assert cluster.reason.startswith("could not place the cluster within 0s: ") and expected in cluster.reason
    assert_nothing_held(cluster.id)


def test_node_that_exits_while_starting_fails_the_cluster_with_its_logs(platform, fw, docker_client):
    # A read-only empty /etc/ssh makes the entrypoint's ssh-keygen fail at once.
    cluster = make_cluster({"node1": {"image": "bdp/base:bookworm", "docker_opts": "--tmpfs /etc/ssh:ro,size=1m",
                                      "networks": ["admin"], "disks": 1},
                            "node2": {"image": "bdp/base:bookworm", "networks": ["admin"], "disks": 1}})
    cluster = step_until(fw, cluster.id, {st.FAILED, st.SCHEDULED}, timeout=120)
    assert cluster.status == st.FAILED
    assert "node node1's container exited while starting: exit code 1" in cluster.reason
    assert "Read-only file system" in cluster.reason  # the container's own last lines
    # A failed cluster gives its containers, addresses and disks back at once (issue 11,
    # finding 8) and keeps its record, nodes' reasons and events for the user to read.
    fw.step()
    assert_nothing_held(cluster.id)
    assert not containers_of(docker_client, platform, cluster.id)
    dead = Node.get((Node.cluster == cluster.id) & (Node.name == "node1"))
    assert dead.status == "failed" and "exit code 1" in dead.reason
    assert Node.get((Node.cluster == cluster.id) & (Node.name == "node2")).status == "destroyed"
    cluster = Cluster.get_by_id(cluster.id)
    assert cluster.status == st.FAILED and "exit code 1" in cluster.reason
    assert any(m.startswith("released 2 containers, 2 addresses and 2 disks") for m in events(cluster.id))
    fw.step()
    assert [m for m in events(cluster.id) if m.startswith("released")] == [events(cluster.id)[-1]]  # once
    assert st.transition(cluster, st.DESTROYING, "api", "test")
    step_until(fw, cluster.id, {st.DESTROYED})
    assert_nothing_held(cluster.id)


def test_docker_opts_outside_the_allowed_set_are_refused_by_name(platform, fw, docker_client):
    cluster = make_cluster({"node1": {"image": "bdp/base:bookworm", "docker_opts": "--privileged"}})
    cluster = step_until(fw, cluster.id, {st.FAILED, st.SCHEDULED}, timeout=60)
    assert cluster.status == st.FAILED
    assert "docker_opts: option '--privileged' is not allowed (allowed: " in cluster.reason
    assert not containers_of(docker_client, platform, cluster.id)


def test_node_that_dies_after_scheduling_is_noticed_and_fails_an_unready_cluster(platform, fw,
                                                                                 docker_client):
    base = {"image": "bdp/base:bookworm"}
    scheduled = make_cluster({"node1": base, "node2": base})
    ready = make_cluster({"node1": base})
    for cluster in (scheduled, ready):
        assert step_until(fw, cluster.id, {st.SCHEDULED, st.FAILED}).status == st.SCHEDULED
    for to in (st.CONFIGURING, st.CONFIGURED, st.READY):  # as the orchestrator would
        assert st.transition(ready, to, "test")
    fw.survey_seconds = 0  # look at the containers on every pass
    fw.step()
    fw.step()
    assert Node.select().where(Node.status == "running").count() == 3  # all alive: untouched

    def node(cluster, name):
        return Node.get((Node.cluster == cluster.id) & (Node.name == name))
    docker_client.containers.get(node(scheduled, "node2").container_id).kill()
    docker_client.containers.get(node(ready, "node1").container_id).remove(force=True)
    fw.step()
    fw.step()

    dead = node(scheduled, "node2")
    assert dead.status == "failed"
    assert dead.reason.startswith("node node2's container exited: exit code 137")
    assert node(scheduled, "node1").status == "running"
    cluster = Cluster.get_by_id(scheduled.id)
    assert cluster.status == st.FAILED and cluster.reason == dead.reason
    assert dead.reason in events(scheduled.id)
    # A ready cluster keeps its status; its node and an event say what died.
    gone = node(ready, "node1")
    assert (gone.status, gone.reason) == ("failed", "node node1's container disappeared")
    assert Cluster.get_by_id(ready.id).status == st.READY
    assert "node node1's container disappeared" in events(ready.id)
    fw.step()
    assert events(ready.id).count("node node1's container disappeared") == 1  # said once


def test_container_name_taken_by_another_platform_gets_a_suffix(platform, fw, docker_client):
    cluster = make_cluster({"node1": {"image": "bdp/base:bookworm"}})
    name = f"bdp-{cluster.id}-node1"
    # Another platform (e.g. a concurrent test run) on the same engine owns that name
    # (if a real one already does, that is the same situation).
    try:
        foreign = docker_client.containers.create("bdp/base:bookworm", name=name,
                                                  labels={LABEL_PLATFORM: "/elsewhere"})
    except docker.errors.APIError as exc:
        assert exc.status_code == 409, exc
        foreign = None
    try:
        assert step_until(fw, cluster.id, {st.SCHEDULED, st.FAILED}).status == st.SCHEDULED
        node = Node.get(Node.cluster == cluster.id)
        ours = docker_client.containers.get(node.container_id)
        assert ours.name == f"{name}-{platform.engine.network_suffix}" and ours.status == "running"
        assert platform.engine.node_state(cluster.id, "node1").container_id == ours.id
        assert st.transition(cluster, st.DESTROYING, "test")
        step_until(fw, cluster.id, {st.DESTROYED})
        assert not containers_of(docker_client, platform, cluster.id)
        if foreign is not None:
            foreign.reload()  # the other platform's container is left alone
            assert foreign.status == "created"
    finally:
        if foreign is not None:
            foreign.remove(force=True)


def test_two_placements_at_once_never_spend_the_same_cpus(platform, fw):
    """Two clusters that each fit the host, but not both, placed by two frameworks at the
    same moment: exactly one gets the cpus, the other waits with a clear reason."""
    from api.core.models import Host
    from api.framework.placement import Unplaceable
    Host.update(cpus=1.0).execute()
    clusters = [make_cluster({"node1": {"cpu": 0.75}}, user=f"user{i}") for i in range(2)]
    others = [Framework(platform) for _ in clusters]
    barrier = threading.Barrier(len(clusters))
    outcomes: dict[int, str] = {}

    def place(framework, cluster):
        barrier.wait()
        try:
            framework._place(cluster, list(Node.select().where(Node.cluster == cluster)))
            outcomes[cluster.id] = "placed"
        except Unplaceable as exc:
            outcomes[cluster.id] = str(exc)
    threads = [threading.Thread(target=place, args=pair) for pair in zip(others, clusters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(o == "placed" for o in outcomes.values()) == [False, True], outcomes
    refusal = next(o for o in outcomes.values() if o != "placed")
    assert "needs 0.75 cpus; largest free offer: 0.25 cpus" in refusal
    for framework in others:
        framework.close()


# --- named disks: a template disk entry may name the host disk it wants ("origin") ---------

NAMED_TEMPLATE = """{"nodes": {
  {%- for i in range(1, opts.size + 1) %}
  "node{{ i }}": {"docker_image": "bdp/base:bookworm", "cpu": 0.25, "mem": 128, "check_ports": [22],
    "required_host": "{{ opts.host }}",
    "disks": {"disk1": {"destination": "/data/1"{% if i > 1 %}, "origin": "{{ opts.origin }}"{% endif %}}},
    "networks": {"eth0": {"networkname": "admin"}}}{{ "," if not loop.last }}
  {%- endfor %}
}}"""


def node_disk(cluster_id: int, node: str):
    from api.core.models import NodeDisk
    return NodeDisk.select().join(Node).where((Node.cluster == cluster_id) & (Node.name == node)).get()


def mount_source(docker_client, cluster_id: int, node: str, destination: str) -> str:
    info = docker_client.api.inspect_container(
        Node.get((Node.cluster == cluster_id) & (Node.name == node)).container_id)
    return {m["Destination"]: m["Source"] for m in info["Mounts"]}[destination]


def test_node_naming_a_host_disk_gets_exactly_that_disk(platform, fw, client, docker_client):
    from support.rest import add_product, error
    add_product(client, name="named", version="1", template=NAMED_TEMPLATE, options={
        "required": {"size": 2}, "optional": {"origin": "disk0", "host": ""}})
    host = docker_client.info()["Name"]
    launch = f"{API}/products/named/1"

    # Two nodes pinned to one host naming one disk: refused at launch, naming the field.
    r = client.simulate_post(launch, json={"size": 3, "host": host})
    assert r.status_code == 400 and error(r)["field"] == "nodes.node3.disks.disk1.origin", r.text
    assert "names host disk 'disk0', which node node2 disk disk1 already names" in error(r)["message"]

    # Not pinned, they might land on two hosts; this engine has one, so the cluster waits.
    r = client.simulate_post(launch, json={"size": 3})
    assert r.status_code == 202, r.text
    waiting = Cluster.get(Cluster.seq == r.json["id"])
    fw.step()
    assert Cluster.get_by_id(waiting.id).status == st.SCHEDULING
    assert (f"waiting for resources: node node3 needs disk disk0, which node node2 of this "
            f"cluster takes on host {host}") in events(waiting.id)
    assert_nothing_held(waiting.id)
    assert client.simulate_delete(r.headers["location"]).status_code == 202
    step_until(fw, waiting.id, {st.DESTROYED})

    # node1's unnamed disk would be handed disk0 first; node2 names it, and gets it.
    r = client.simulate_post(launch, json={"size": 2})
    assert r.status_code == 202, r.text
    cluster = step_until(fw, Cluster.get(Cluster.seq == r.json["id"]).id, {st.SCHEDULED, st.FAILED})
    assert cluster.status == st.SCHEDULED, cluster.reason
    named, other = node_disk(cluster.id, "node2"), node_disk(cluster.id, "node1")
    assert named.origin == "disk0" and named.disk.name == "disk0" and other.disk.name != "disk0"
    assert mount_source(docker_client, cluster.id, "node2", "/data/1") == str(
        Path(named.disk.path) / flatten_dn(cluster.dn) / "node2")
    view = client.simulate_get(r.headers["location"] + "/nodes").json["nodes"][1]
    assert view["disks"][0]["disk"] == "disk0"


def test_named_disk_missing_or_held_waits_and_is_placed_once_freed(platform, fw, docker_client):
    from api.core.models import NodeDisk
    host = docker_client.info()["Name"]

    def named_cluster(user: str, origin: str) -> Cluster:
        cluster = make_cluster({"node1": {"image": "bdp/base:bookworm", "disks": 1,
                                          "networks": ["admin"]}}, user=user)
        NodeDisk.update(origin=origin).where(NodeDisk.node.in_(
            Node.select(Node.id).where(Node.cluster == cluster))).execute()
        return cluster

    holder = named_cluster("bob", "disk2")
    assert step_until(fw, holder.id, {st.SCHEDULED, st.FAILED}).status == st.SCHEDULED
    missing = named_cluster("alice", "disk9")
    theirs = named_cluster("alice", "disk2")
    own = named_cluster("bob", "disk2")  # bob may see his own cluster named
    for _ in range(2):
        fw.step()
    expected = {
        missing: f"node node1 needs disk disk9; no host has it (host {host}: disk0..disk7)",
        theirs: f"node node1 needs disk disk2, which is in use by another cluster on host {host}",
        own: f"node node1 needs disk disk2, which is used on host {host} by {holder.dn}"}
    for cluster, message in expected.items():
        assert Cluster.get_by_id(cluster.id).status == st.SCHEDULING
        assert events(cluster.id).count(f"waiting for resources: {message}") == 1, events(cluster.id)
        assert_nothing_held(cluster.id)
    assert not any(holder.dn in m for m in events(theirs.id))  # bob's cluster, hidden from alice

    for cluster in (own, missing, holder):
        assert st.transition(cluster, st.DESTROYING, "test")
        step_until(fw, cluster.id, {st.DESTROYED})
    placed = step_until(fw, theirs.id, {st.SCHEDULED, st.FAILED})
    assert placed.status == st.SCHEDULED, placed.reason
    got = node_disk(placed.id, "node1").disk
    assert got.name == "disk2"
    assert mount_source(docker_client, placed.id, "node1", "/data/1") == str(
        Path(got.path) / flatten_dn(placed.dn) / "node1")


def test_default_subnet_taken_meanwhile_by_another_platform_is_picked_again(platform, docker_client):
    """Two platforms starting at once on one engine both saw a subnet free; the second to
    reserve it must pick another instead of failing its first launch ("Pool overlaps")."""
    from api.core.models import Network
    from api.infra import network as networks
    framework = Framework(platform)
    rival = None
    try:
        for _ in range(5):  # someone else on the engine may take it first: look again
            first = networks._free_subnet(framework.engine.used_subnets())
            try:
                rival = docker_client.networks.create(  # the other platform, quicker to reserve
                    f"bdp-test-rival-{threading.get_ident()}", labels={LABEL_PLATFORM: "rival-platform"},
                    ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=first)]))
                break
            except docker.errors.APIError:
                continue
        assert rival is not None, "no free subnet for the rival network"
        real, looks = framework.engine.used_subnets, []

        def stale():  # its first look came before the rival's reservation
            looks.append(1)
            return [s for s in real() if s != first] if len(looks) == 1 else real()
        framework.engine.used_subnets = stale
        framework._prepare()
        subnets = {n.name: ipaddress.ip_network(n.subnet) for n in Network.select()}
        assert set(subnets) == {"admin", "storage"}
        assert not any(s.overlaps(ipaddress.ip_network(first)) for s in subnets.values()), subnets
        ours = [n for n in docker_client.networks.list(filters={"label": f"{LABEL_PLATFORM}={platform.settings.data_dir}"})]
        assert len(ours) == 2, [n.name for n in ours]  # both reserved on the engine
    finally:
        framework.close()
        if rival is not None:
            rival.remove()
        remove_platform_containers(docker_client, platform.settings.data_dir)
        for net in docker_client.networks.list(filters={"label": f"{LABEL_PLATFORM}={platform.settings.data_dir}"}):
            net.remove()

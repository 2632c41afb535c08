"""One platform, three real Docker hosts (the session's namespace hosts), everything
through the REST API of a real `bdp server`: clusters spread over the hosts on segments
that span them, tenants kept apart, placement reasons naming every host, draining, site
networks, and a real partition of one host.

To keep the suite short, the clusters most tests look at are launched once, together
(`running`: their launches and playbooks overlap), and checked by several tests that do
not disturb them; the partition test, near the end, partitions the host under them and
destroys them."""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.common import wait_for, wait_status
from support.multihost import (
    clean,
    host_devices,
    local_devices,
    node_exec,
    nodes,
    reachable_each,
    start_site,
    wait_nothing_left,
)
from support.products import launch
from support.server import ServerProcess

SMALL = {"cpu": 0.25, "mem": 128}
RUNNING = {"scheduled", "configuring", "configured", "ready"}


@dataclass
class Site:
    server: ServerProcess
    hosts: dict
    data_dir: Path

    @property
    def http(self):
        return self.server.http()


PRODUCTS = (("reference", "1.0.0"), ("slurm", "22.05"), ("gluster", "10.3"))


@pytest.fixture(scope="module")
def site(testhosts, tmp_path_factory, docker_client):
    from api.core.config import REPO_ROOT
    from api.engines import images
    for name, version in PRODUCTS:  # the bundles' images as they are now (a launch only
        # warns of an older one), built once on the platform's engine and sent to the hosts
        images.ensure_product_image(REPO_ROOT / "products" / name / version, name, version,
                                    docker_client, log=lambda line: None)
    data_dir = tmp_path_factory.mktemp("multihost") / "data"
    server, hosts = None, {}
    try:
        server, hosts = start_site(data_dir, testhosts)
        yield Site(server, hosts, data_dir)
    finally:
        if server is not None:
            server.stop()
        clean(testhosts, data_dir, docker_client)


def _user(site, name: str):
    """A client of the site's API as a new user `name`."""
    http = site.http
    r = http.post("/users", json={"name": name, "role": "user"})
    assert r.status_code in (201, 409), r.text
    r = http.post(f"/users/{name}/tokens", json={"name": "test"})
    assert r.status_code == 201, r.text
    return site.server.http(r.json()["token"])


@dataclass
class Running:
    six: str  # the admin's 6-node reference cluster
    bob: object  # bob's client
    bobs: str  # bob's 3-node reference cluster
    slurm: str  # the admin's Slurm cluster, 3 compute nodes


@pytest.fixture(scope="module")
def running(site):
    http = site.http
    # node-a lacks the node image: it gets it from the platform (no registry here).
    lacking = site.hosts["node-a"].client()
    if lacking.images.list(name="bdp/reference"):
        lacking.images.remove("bdp/reference:1.0.0")
    bob = _user(site, "bob")
    out = Running(
        six=launch(http, "reference", "1.0.0", {"size": 6, "disks": 1, **SMALL}),
        bob=bob, bobs=launch(bob, "reference", "1.0.0", {"size": 3, "disks": 1, **SMALL}),
        slurm=launch(http, "slurm", "22.05", {"size": 3, "cpu": 0.25, "mem": 160,
                                              "controller_mem": 160}))
    # Their playbooks run while the first tests look at the containers; the tests that
    # need them ready (slurm, the partition) wait for it.
    for client, path in ((http, out.six), (bob, out.bobs)):
        wait_status(client, path, RUNNING, timeout=600)
    return out


def destroy(http, path: str) -> None:
    assert http.delete(path).status_code == 202
    wait_status(http, path, {"destroyed"}, timeout=180)


def test_a_six_node_cluster_spreads_over_three_hosts_on_one_segment(site, running):
    http = site.http
    found = nodes(http, running.six)
    per_host = {}
    for name, node in found.items():
        per_host.setdefault(node["host"], []).append(name)
    assert sorted(len(v) for v in per_host.values()) == [2, 2, 2], per_host
    for node in found.values():
        # The container is on its host's own daemon, with the registry's limits,
        # addresses and disk.
        info = site.hosts[node["host"]].client().api.inspect_container(node["id"])
        assert info["Config"]["Hostname"] == node["name"]
        assert (info["HostConfig"]["NanoCpus"], info["HostConfig"]["Memory"]) == (250_000_000, 128 * 2**20)
        attached = sorted(ep["IPAddress"] for ep in info["NetworkSettings"]["Networks"].values())
        assert attached == sorted(i["address"] for i in node["networks"])
        (disk,) = node["disks"]
        host_view = http.get(f"/hosts/{node['host']}").json()
        assert disk["path"] in host_view["disk_paths"]
        assert any(m["Destination"] == "/data/1" and m["Source"].startswith(disk["path"])
                   for m in info["Mounts"])
        for iface in node["networks"]:
            assert ipaddress.ip_address(iface["address"]) in ipaddress.ip_network(iface["subnet"])
    # Each address is on the device the template gives it, inside the node too.
    one = found["node1"]
    code, out = node_exec(site.hosts, one, ["ip", "-4", "-o", "addr", "show", "eth1"])
    assert code == 0 and f" {one['networks'][1]['address']}/" in out, out
    # The image came from the platform, saved once (cached by image id) and loaded on
    # node-a, for whichever of the two reference clusters got there first.
    events = [e["message"] for c, p in ((http, running.six), (running.bob, running.bobs))
              for e in c.get(f"{p}/events").json()["events"]]
    sent = [m for m in events if m.startswith("sent image bdp/reference:1.0.0")]
    assert [m for m in sent if " to host node-a in " in m], events
    assert len(sent) <= 3
    lacking = site.hosts["node-a"].client()
    image_id = lacking.images.get("bdp/reference:1.0.0").id.split(":")[1]
    assert (site.data_dir / "images" / f"{image_id}.tar").is_file()
    # Nodes on different hosts reach each other by address, on both networks.
    a, b = (found[per_host[h][0]] for h in sorted(per_host)[:2])
    for i, result in enumerate(reachable_each(site.hosts, [(a, b["networks"][i]["address"], 22)
                                                           for i in (0, 1)])):
        assert result == (True, True), (a["name"], b["name"], b["networks"][i])


def test_another_users_nodes_are_unreachable_on_one_host_and_across_hosts(site, testhosts, running):
    """Each user's clusters get segments of their own: from the admin's node, bob's nodes
    answer neither ping nor SSH, beside it on the same host or on another (and the other
    way round), while the platform reaches both (they get ready: see the partition test);
    nodes do not reach the hosts' engines."""
    mine, bobs = nodes(site.http, running.six), nodes(running.bob, running.bobs)
    one = mine["node1"]
    same_host = next(b for b in bobs.values() if b["host"] == one["host"])
    other_host = next(b for b in bobs.values() if b["host"] != one["host"])
    assert one["networks"][0]["subnet"] != same_host["networks"][0]["subnet"]
    checks = [(one, iface["address"], 22) for t in (same_host, other_host) for iface in t["networks"]]
    checks += [(same_host, iface["address"], 22) for iface in one["networks"]]
    # Their own nodes they reach, on other hosts too.
    across = next(m for m in mine.values() if m["host"] != one["host"])
    checks.append((one, across["networks"][0]["address"], 22))
    # Nor do nodes reach the hosts' Docker engines (plain tcp on the site network).
    checks += [(one, host.address, 2375) for host in testhosts.hosts]
    results = reachable_each(site.hosts, checks)
    for (src, address, port), result in zip(checks, results):
        wanted = (True, True) if address == across["networks"][0]["address"] else (False, False)
        if port == 2375:
            assert result[1] is False, (src["name"], address, port)
        else:
            assert result == wanted, (src["name"], address, port, result)


def test_placement_reasons_name_every_host_drained_hosts_get_nothing_gluster_pairs_split(site, running):
    """A cluster that fits nowhere says why for every host; gluster's replica pairs wait
    rather than share a host, and once a second host is back each pair is split over the
    two, while a drained host gets no new node."""
    http = site.http
    # As many cpus as the largest host has in all (so the launch is not refused as never
    # fitting): more than any host has free, since the 6-node cluster runs on each.
    most = max(h["total"]["cpus"] for h in http.get("/hosts").json())
    path = launch(http, "reference", "1.0.0", {"size": 1, "cpu": most, "mem": 128})
    wait_status(http, path, {"scheduling"}, timeout=60)

    def reason():
        text = http.get(path).json()["reason"]
        return text if "node-c" in text else None
    text = wait_for(reason, 30, message="a waiting reason")
    assert text.startswith(f"waiting for resources: node node1 needs {most:g} cpus; largest free offer:"), text
    for host in ("node-a", "node-b", "node-c"):
        assert f"{host}: " in text and " cpus free" in text, text
    destroy(http, path)

    # Gluster's replica pairs cannot be split over one host: with node-b and node-c
    # drained it waits, saying why for each host...
    for host in ("node-b", "node-c"):
        assert http.patch(f"/hosts/{host}", json={"state": "drain"}).json()["state"] == "drain"
    try:
        g = launch(http, "gluster", "10.3", {"size": 4, "disks": 1, "cpu": 0.25, "mem": 192})
        wait_for(lambda: "pair1" in http.get(g).json()["reason"], 30, message="the gluster reason")
        text = http.get(g).json()["reason"]
        assert "node gluster2 must not share a host with the other nodes of group pair1" in text
        assert "node-b: draining" in text and "node-c: draining" in text, text
        # What runs on a drained host stays.
        assert {n["status"] for n in nodes(http, running.six).values() if n["host"] == "node-c"} \
            == {"running"}
        # ... and once node-b takes nodes again, each pair is split over node-a and node-b,
        # while node-c, still drained, gets none (spreading would have used it).
        http.patch("/hosts/node-b", json={"state": "active"})
        wait_status(http, g, RUNNING, timeout=300)
        where = {name: n["host"] for name, n in nodes(http, g).items()}
        assert where["gluster1"] != where["gluster2"] and where["gluster3"] != where["gluster4"], where
        assert set(where.values()) == {"node-a", "node-b"}, where
        destroy(http, g)
    finally:
        for host in ("node-b", "node-c"):
            http.patch(f"/hosts/{host}", json={"state": "active"})


SITE_TEMPLATE = """{
  "dnsname": "{{ product }}-{{ clusterid }}.{{ user }}.bdp",
  "nodes": {
    {%- for i in range(1, opts.size + 1) %}
    "n{{ i }}": {"docker_image": "bdp/base:bookworm", "cpu": 0.25, "mem": 128, "check_ports": [22],
           "networks": {"eth0": {"networkname": "NET0"}{{ ', "eth1": {"networkname": "NET1"}' if 'NET1' != '-' }}}}
    {{- "," if not loop.last }}
    {%- endfor %}
  },
  "services": {"all": {"nodes": [{% for i in range(1, opts.size + 1) %}"n{{ i }}"{{ "," if not loop.last }}{% endfor %}]}}
}"""
PLAYBOOK = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ping:\n      tags: [start, stop, restart, status]\n"


def _product(http, name: str, eth0: str, eth1: str = "-") -> None:
    r = http.post("/products", json={"name": name, "version": "1", "description": name})
    assert r.status_code == 201, r.text
    r = http.put(f"/products/{name}/1/options", json={
        "required": {"size": 3}, "optional": {}, "advanced": {}, "descriptions": {"size": "nodes"}})
    assert r.status_code == 200, r.text
    text = SITE_TEMPLATE.replace("NET0", eth0).replace("NET1", eth1)
    r = http.put(f"/products/{name}/1/template", content=text.encode(),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    r = http.put(f"/products/{name}/1/orchestrator", content=PLAYBOOK.encode(),
                 headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text


def test_site_networks_an_admin_opts_into_span_the_hosts(site, testhosts):
    """Shared site networks: a docker macvlan on the interface every host has (eth0 here,
    the segment the platform host is on too), addresses from the registry, unique across
    hosts, as a node's first interface; and, when the hosts form a swarm, an attachable
    overlay as its second (never its first: the platform host cannot route to it)."""
    http = site.http
    net = testhosts.gateway.rsplit(".", 1)[0]
    r = http.post("/networks", json={"name": "site", "subnet": f"{net}.0/24", "driver": "macvlan",
                                     "parent": "eth0", "isolation": "shared", "gateway": f"{net}.1",
                                     "range_start": f"{net}.128", "range_end": f"{net}.190"})
    assert r.status_code == 201, r.text
    assert (r.json()["driver"], r.json()["isolation"], r.json()["parent"]) == ("macvlan", "shared", "eth0")
    clients = [h.client() for h in testhosts.hosts]
    clients[0].swarm.init(advertise_addr=testhosts.hosts[0].address, listen_addr="0.0.0.0:2377")
    try:
        token = clients[0].swarm.attrs["JoinTokens"]["Worker"]
        for c in clients[1:]:
            c.swarm.join([f"{testhosts.hosts[0].address}:2377"], token, listen_addr="0.0.0.0:2377")
        r = http.post("/networks", json={"name": "ov", "subnet": "10.218.0.0/24", "driver": "overlay",
                                         "isolation": "shared"})
        assert r.status_code == 201, r.text
        _product(http, "sitewide", "site", "ov")
        _product(http, "unreachable", "ov")
        refused = http.post("/products/unreachable/1", json={"size": 1})
        assert refused.status_code == 400 and refused.json()["field"] == "nodes.n1.networks.eth0.networkname"
        assert "a Swarm overlay the platform cannot reach" in refused.json()["message"]
        path = launch(http, "sitewide", "1", {"size": 3})
        assert wait_status(http, path, {"ready"}, timeout=300)["status"] == "ready"  # ansible reached them
        found = list(nodes(http, path).values())
        assert len({n["host"] for n in found}) == 3
        addresses = [n["networks"][0]["address"] for n in found]
        assert len(set(addresses)) == 3 and all(a.startswith(f"{net}.1") for a in addresses)
        overlay = found[1]["networks"][1]
        # Overlay addresses come from the registry, above the quarter left to swarm's own.
        assert overlay["networkname"] == "ov" and overlay["address"].startswith("10.218.0.")
        assert int(overlay["address"].rsplit(".", 1)[1]) >= 64
        assert reachable_each(site.hosts, [(found[0], addresses[1], 22), (found[0], overlay["address"], 22)]) \
            == [(True, True), (True, True)]
        dn = http.get(path).json()["dn"]
        destroy(http, path)
    finally:
        for c in clients:
            c.swarm.leave(force=True)
    # Its containers and both networks' docker networks are gone from every host (the
    # partition test, later, checks that nothing at all is left).
    def left():
        out = []
        for host in testhosts.hosts:
            client = host.client()
            out += [c.name for c in client.containers.list(all=True, filters={"label": f"org.bdp.cluster-dn={dn}"})]
            out += [n.name for n in client.networks.list(filters={"label": f"org.bdp.platform={site.data_dir}"})
                    if n.attrs["Labels"].get("org.bdp.network") in ("site", "ov")]
        return out
    wait_for(lambda: not left(), 60, interval=1, message=f"the site networks' leftovers gone ({left()})")


def test_slurm_runs_one_job_step_on_three_hosts(site, running):
    http = site.http
    try:
        assert wait_status(http, running.slurm, {"ready"}, timeout=600)["status"] == "ready"
        found = nodes(http, running.slurm)
        computes = [found[f"compute{i}"] for i in (1, 2, 3)]
        assert len({c["host"] for c in computes}) == 3, [(c["name"], c["host"]) for c in computes]
        code, out = node_exec(site.hosts, found["controller"], ["srun", "-N3", "hostname"])
        assert code == 0, out
        assert sorted(out.split()) == ["compute1", "compute2", "compute3"]
    finally:  # the partition test counts on nothing but its own clusters running
        destroy(http, running.slurm)


def test_a_partitioned_host_is_lost_its_nodes_too_and_all_is_reconciled_when_back(site, testhosts, running):
    """eth0 goes down inside one host's namespace (a real partition): the host is lost
    within 20 s, its nodes lost, the cluster degraded; a cluster destroyed meanwhile
    finishes; new nodes go elsewhere. Link up: the lost nodes are adopted, the destroyed
    cluster's leftovers on that host go, and nothing is left behind."""
    admin, bob = site.http, running.bob
    keep, gone = running.six, running.bobs
    # The orchestrator reached every node of both tenants' segments, over all three hosts.
    assert wait_status(admin, keep, {"ready"}, timeout=600)["status"] == "ready"
    assert wait_status(bob, gone, {"ready"}, timeout=600)["status"] == "ready"
    assert admin.get(keep).json()["health"] == {"status": "healthy", "problems": []}
    # The playbook wrote every node's name into /etc/hosts: names resolve across hosts.
    first, other = (v for v in nodes(admin, keep).values() if v["name"] in ("node1", "node2"))
    code, out = node_exec(site.hosts, first, ["ping", "-c", "1", "-W", "2", other["name"]])
    assert code == 0 and first["host"] != other["host"], out
    before = nodes(admin, keep)
    name = before["node1"]["host"]
    there = sorted(n for n, v in before.items() if v["host"] == name)
    test_host = site.hosts[name]
    bob_there = next(n for n in nodes(bob, gone).values() if n["host"] == name)
    bob_dn = bob.get(gone).json()["dn"]

    testhosts.partition(test_host)
    cut = time.monotonic()
    try:
        wait_for(lambda: admin.get(f"/hosts/{name}").json()["state"] == "lost", 25, interval=0.25,
                 message=f"{name} lost")
        took = time.monotonic() - cut
        assert took <= 20, took
        lost = {n: v for n, v in nodes(admin, keep).items() if v["status"] == "lost"}
        assert sorted(lost) == there, lost
        assert all(v["reason"].startswith(f"host {name} lost: no answer") for v in lost.values()), lost
        view = wait_for(lambda: (v := admin.get(keep).json())["health"]["status"] == "degraded" and v, 10)
        assert view["status"] == "ready"
        assert view["health"]["problems"] == [{"node": n, "status": "lost", "reason": lost[n]["reason"]}
                                              for n in there]
        events = [e["message"] for e in admin.get(f"{keep}/events").json()["events"]]
        assert any(m.startswith(f"host {name} lost") for m in events), events

        # Destroying bob's cluster finishes; what it had on the lost host waits for it.
        assert bob.delete(gone).status_code == 202
        wait_status(bob, gone, {"destroyed"}, timeout=120)
        done = [e["message"] for e in bob.get(f"{gone}/events").json()["events"]][-1]
        assert f"{bob_there['name']}" in done and "removed when their host answers again" in done, done
        held = [d for d in admin.get(f"/hosts/{name}/disks").json() if d["status"] == "used"]
        assert [d["owner"]["cluster"] for d in held].count(bob_dn) == 1

        # New nodes go to the hosts that answer.
        more = launch(admin, "reference", "1.0.0", {"size": 2, "disks": 0, **SMALL})
        wait_status(admin, more, RUNNING, timeout=300)
        assert name not in {n["host"] for n in nodes(admin, more).values()}
    finally:
        testhosts.heal(test_host)

    wait_for(lambda: admin.get(f"/hosts/{name}").json()["state"] == "active", 30, message=f"{name} back")
    back = wait_for(lambda: all((n := nodes(admin, keep))[x]["status"] == "running" for x in there) and n,
                    30, message="the lost nodes adopted")
    assert [back[x]["id"] for x in there] == [before[x]["id"] for x in there]  # the same containers
    wait_for(lambda: admin.get(keep).json()["health"]["status"] == "healthy", 15, message="healthy")
    # Bob's leftovers on that host are gone: container, disk data, disk, addresses, his
    # segment's docker network and VXLAN devices (everywhere: his cluster is gone).
    client = test_host.client()
    wait_for(lambda: not client.containers.list(all=True, filters={"label": f"org.bdp.cluster-dn={bob_dn}"}),
             30, message="bob's container on the returned host removed")
    wait_for(lambda: all(d["status"] == "free" or d["owner"]["cluster"] != bob_dn
                         for d in admin.get(f"/hosts/{name}/disks").json()), 30, message="bob's disk free")
    bob_subnet = bob_there["networks"][0]["subnet"]
    used = admin.get("/networks/admin/addresses", params={"used": ""}).json()
    assert not [a for a in used if ipaddress.ip_address(a["address"]) in ipaddress.ip_network(bob_subnet)]
    for path in (keep, more):
        destroy(admin, path)
    wait_nothing_left(testhosts, site.data_dir, timeout=60)
    assert local_devices(site.data_dir) == [] and not any(host_devices(testhosts, site.data_dir).values())
    # Every disk is free again, on every host.
    for host in site.hosts:
        assert all(d["status"] == "free" for d in admin.get(f"/hosts/{host}/disks").json()), host


def test_removing_a_host_with_no_nodes_takes_the_platforms_agent_off_it(site, testhosts):
    http = site.http
    host = site.hosts["node-c"]
    agents = {"label": ["org.bdp.helper=network agent", f"org.bdp.platform={site.data_dir}"]}
    assert host.client().containers.list(filters=agents)  # made for the VXLAN segments there
    assert http.delete("/hosts/node-c").status_code == 204
    assert host.client().containers.list(all=True, filters=agents) == []
    assert "node-c" not in [h["name"] for h in http.get("/hosts").json()]


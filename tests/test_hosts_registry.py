"""Hosts as registry objects, without Docker: what POST /hosts refuses (naming the field
and writing nothing), drain/activate, removal refused while nodes live there, what users
may see, the schema step, the embedded host's disk pool."""
from __future__ import annotations

import pytest
from peewee import SqliteDatabase

from api.core.config import Settings
from api.core.models import Cluster, Disk, Host, Node, Product, User, db
from api.core.status import NodeStatus
from api.infra import host as hosts
from support.rest import P, add_user, as_user, error

HOSTS = f"{P}/hosts"


@pytest.mark.parametrize("body, field, fragment", [
    ([], "body", "must be a JSON object"),
    ({"url": "tcp://10.0.0.1:2375"}, "name", "name is required"),
    ({"name": "a b", "url": "tcp://10.0.0.1:2375"}, "name", "letters, digits"),
    ({"name": "a"}, "url", "url is required"),
    ({"name": "a", "url": "http://10.0.0.1:2375"}, "url", "not a Docker endpoint"),
    ({"name": "a", "url": "tcp://10.0.0.1"}, "url", "needs the port"),
    ({"name": "a", "url": "tcp://10.0.0.1:99999"}, "url", "bad port"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375/x"}, "url", "and nothing more"),
    ({"name": "a", "url": "unix://relative.sock"}, "url", "absolute socket path"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "disks": "/srv/d1"}, "disks", "list of at most"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "disks": ["srv/d1"]}, "disks.0", "not an absolute path"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "disks": ["/srv/../etc"]}, "disks.0", "plain absolute"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "disks": ["/srv/a/d1", "/srv/b/d1"]}, "disks.1",
     "would both be named 'd1'"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "labels": {"rack": 1}}, "labels.rack", "must be a string"),
    ({"name": "a", "url": "unix:///run/docker.sock", "tls": {}}, "tls", "tls is for tcp://"),
    ({"name": "a", "url": "tcp://10.0.0.1:2376", "tls": {"ca": "/nonexistent/ca.pem",
                                                         "cert": "/x", "key": "/y"}},
     "tls.ca", "not a file the platform can read"),
    ({"name": "a", "url": "tcp://10.0.0.1:2376", "tls": {"ca": "/etc/hostname", "pem": "/x"}},
     "tls.pem", "unknown field"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "cpus": -1}, "cpus", "positive number"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "mem": 1.5}, "mem", "positive whole number"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "address": "nowhere"}, "address", "not an IP"),
    ({"name": "a", "url": "tcp://10.0.0.1:2375", "colour": "red"}, "colour", "unknown field"),
])
def test_post_host_refuses_bad_input_naming_the_field(client, body, field, fragment):
    r = client.simulate_post(HOSTS, json=body)
    assert r.status_code == 400, r.text
    assert error(r)["field"] == field and fragment in r.json["message"], r.json
    assert Host.select().where(Host.url != "").count() == 0


def test_a_host_that_does_not_answer_is_refused_and_nothing_is_written(client):
    r = client.simulate_post(HOSTS, json={"name": "gone", "url": "tcp://127.0.0.1:1",
                                          "disks": ["/srv/bdp/d1"]})
    assert r.status_code == 400 and error(r)["field"] == "url", r.text
    assert "host gone: the Docker engine at tcp://127.0.0.1:1 does not answer" in r.json["message"]
    assert "Connection refused" in r.json["message"]
    assert Host.get_or_none(Host.name == "gone") is None and Disk.select().count() == 0


def test_only_admins_register_drain_and_remove_hosts(client):
    token = add_user(client, "bob")
    body = {"name": "a", "url": "tcp://127.0.0.1:1"}
    assert client.simulate_post(HOSTS, json=body, headers=as_user(token)).status_code == 403
    _host("a")
    assert client.simulate_patch(f"{HOSTS}/a", json={"state": "drain"}, headers=as_user(token)).status_code == 403
    assert client.simulate_delete(f"{HOSTS}/a", headers=as_user(token)).status_code == 403


def _host(name: str, url: str = "tcp://192.0.2.50:2375", disks: int = 2) -> Host:
    host = Host.create(name=name, url=url, address="192.0.2.50", cpus=8, mem=4096)
    for i in range(disks):
        Disk.create(host=host, name=f"d{i}", path=f"/srv/bdp/d{i}")
    return host


def _node(host: Host, status: str = NodeStatus.RUNNING, cpu: float = 1.5) -> Node:
    user, _ = User.get_or_create(name="alice")
    product, _ = Product.get_or_create(name="reference", version="1.0.0")
    seq = Cluster.select().count() + 1
    cluster = Cluster.create(user=user, product=product, seq=seq, status="ready")
    return Node.create(cluster=cluster, name="node1", host=host, cpu=cpu, mem=512, status=status)


def test_get_host_shows_totals_used_free_state_and_warns_of_plain_tcp(client):
    host = _host("node-a")
    node = _node(host)
    Disk.update(node=node).where(Disk.name == "d0").execute()
    view = client.simulate_get(f"{HOSTS}/node-a").json
    assert view["total"] == {"cpus": 8, "mem": 4096, "disks": 2}
    assert view["used"] == {"cpus": 1.5, "mem": 512, "disks": 1}
    assert view["free"] == {"cpus": 6.5, "mem": 3584, "disks": 1}
    assert view["state"] == "active" and view["last_seen"] and view["url"] == "tcp://192.0.2.50:2375"
    assert "trusted network only" in view["warning"]
    assert [h["name"] for h in client.simulate_get(HOSTS).json] == ["node-a"]
    # A user sees the host and what is free, not how to reach its engine.
    token = add_user(client, "bob")
    seen = client.simulate_get(f"{HOSTS}/node-a", headers=as_user(token)).json
    assert seen["free"] == view["free"] and not {"url", "address", "warning", "disk_paths"} & set(seen)
    missing = client.simulate_get(f"{HOSTS}/nope")
    assert missing.status_code == 404 and missing.json["message"] == "no host nope"


def test_drain_and_activate_change_what_placement_is_offered(client):
    _host("node-a")
    r = client.simulate_patch(f"{HOSTS}/node-a", json={"state": "drain"})
    assert r.status_code == 200 and r.json["state"] == "drain" and r.json["state_reason"] == "draining"
    assert [(o.host, o.state, o.state_reason) for o in hosts.offers()] == [("node-a", "drain", "draining")]
    r = client.simulate_patch(f"{HOSTS}/node-a", json={"state": "lost"})
    assert r.status_code == 400 and r.json["field"] == "state" and "lost on its own" in r.json["message"]
    r = client.simulate_patch(f"{HOSTS}/node-a", json={"state": "active", "cpus": 2, "labels": {"rack": "r2"}})
    assert (r.json["state"], r.json["total"]["cpus"], r.json["labels"]) == ("active", 2, {"rack": "r2"})
    assert r.json["overrides"] == {"cpus": 2}
    assert client.simulate_patch(f"{HOSTS}/node-a", json={"name": "x"}).json["field"] == "name"


def test_remove_is_refused_while_nodes_live_there(client):
    host = _host("node-a")
    node = _node(host)
    r = client.simulate_delete(f"{HOSTS}/node-a")
    assert r.status_code == 409 and "still has 1 node(s)" in error(r)["message"]
    Node.update(status=NodeStatus.DESTROYED).where(Node.id == node.id).execute()
    Disk.update(node=node).where(Disk.name == "d0").execute()  # data not cleaned up yet
    r = client.simulate_delete(f"{HOSTS}/node-a")
    assert r.status_code == 409 and "data of destroyed nodes to clean up" in r.json["message"]
    Disk.update(node=None).execute()
    assert client.simulate_delete(f"{HOSTS}/node-a").status_code == 204
    assert Host.get_or_none(Host.name == "node-a") is None and Disk.select().count() == 0
    assert Node.get_by_id(node.id).host_id is None  # the destroyed node's record stays


def test_registered_hosts_retire_the_embedded_host_from_placement(platform):
    Host.create(name="vm", url="", cpus=8, mem=4096)  # the embedded engine, found by sync
    assert [o.host for o in hosts.offers()] == ["vm"]

    class Engine:
        name = "docker"

        def hosts(self):
            return []
    _host("node-a")
    hosts.sync_hosts(Engine())
    assert [o.host for o in hosts.offers()] == ["node-a"]


def test_a_registered_host_retires_the_embedded_host_at_once(platform):
    """Not at the next probe: a cluster launched right after POST /hosts must not land on
    the embedded engine (seen when three hosts were registered at once), nor may a probe
    round that listed the embedded host just before bring it back."""
    from api.engines.base import HostInfo
    from api.infra import host_registration as registration
    Host.create(name="vm", url="", engine="docker", cpus=8, mem=4096)
    embedded = HostInfo(name="vm", cpus=8, mem=4096, disks=[], address="127.0.0.1")

    class Engine:
        name = "docker"

        def describe_host(self, name, url, tls, address=""):
            return HostInfo(name=name, cpus=4, mem=2048, disks=[], address="192.0.2.60")

        def prepare_disks(self, *args, **kwargs):
            pass
    registration.register(Engine(), registration.parse_host({"name": "node-a", "url": "tcp://192.0.2.60:2375"}))
    assert [o.host for o in hosts.offers()] == ["node-a"]
    hosts.sync_hosts(Engine(), [embedded])  # a probe round begun before the registration
    assert [o.host for o in hosts.offers()] == ["node-a"]


def test_a_probe_round_under_way_does_not_bring_back_a_removed_host(client):
    """Seen: DELETE /hosts/node-c during a probe round, and the round's report of node-c
    made it a found host again."""
    from api.engines.base import HostInfo
    _host("node-c")
    report = [HostInfo(name="node-c", cpus=8, mem=4096, address="192.0.2.50", registered=True)]
    assert client.simulate_delete(f"{HOSTS}/node-c").status_code == 204

    class Engine:
        name = "docker"
    hosts.sync_hosts(Engine(), report)
    assert Host.get_or_none(Host.name == "node-c") is None



def test_a_found_host_appears_with_its_disks_or_not_at_all(platform, monkeypatch):
    """Seen with the API and the framework apart on PostgreSQL: a launch checked between
    the framework's insert of the host and of its disks was refused ('the largest host, vm,
    has ... 0 disks'). A host and its disks are recorded in one transaction."""
    from api.engines.base import HostInfo
    from api.infra import disk as disks

    class Engine:
        name = "docker"
    found = HostInfo(name="vm", cpus=8, mem=4096, disks=[("disk0", "/d0"), ("disk1", "/d1")],
                     address="127.0.0.1")

    def fail_midway(host, infos):
        Disk.insert(host=host, name="disk0", path="/d0").execute()
        raise RuntimeError("the registry went away")
    monkeypatch.setattr(disks, "sync_host_disks", fail_midway)
    with pytest.raises(RuntimeError):
        hosts.sync_hosts(Engine(), [found])
    assert Host.select().count() == 0 and Disk.select().count() == 0
    monkeypatch.undo()
    hosts.sync_hosts(Engine(), [found])
    assert [(o.host, o.all_disks) for o in hosts.offers()] == [("vm", ["disk0", "disk1"])]

def test_schema_step_adds_the_host_columns_to_an_older_database(tmp_path):
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as apply

    from api.core import migrations
    database = SqliteDatabase(str(tmp_path / "old.sqlite"))
    saved = db.obj
    db.initialize(database)
    try:
        assert migrations.migrate(database) == len(migrations.STEPS)
        new = ["url", "tls", "labels", "state", "lost_since", "cpus_override", "mem_override"]
        migrator = SchemaMigrator.from_database(database)
        apply(*[migrator.drop_column("host", c) for c in new])
        before = migrations.STEPS.index(migrations._registered_hosts)
        database.execute_sql(f"UPDATE schema_version SET version = {before}")
        assert migrations.migrate(database) == len(migrations.STEPS)
        assert set(new) <= {c.name for c in database.get_columns("host")}
        Host.create(name="h", url="tcp://192.0.2.1:2375")
        assert Host.get(Host.name == "h").state == "active"
    finally:
        db.initialize(saved)
        database.close()


def test_issue_17s_steps_keep_every_row_of_a_registry_in_use(tmp_path):
    """With foreign keys on (as the platform runs SQLite), adding the NOT NULL columns must
    not rebuild the tables: dropping the old one would delete whatever references it ON
    DELETE CASCADE (nodes, documents, interfaces, disks...)."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as apply

    from api.core import migrations
    from api.core.models import ClusterDocument, Interface, Network
    database = SqliteDatabase(str(tmp_path / "old.sqlite"), pragmas={"foreign_keys": 1})
    saved = db.obj
    db.initialize(database)
    try:
        migrations.migrate(database)
        host = _host("node-a", disks=1)
        node = _node(host)
        ClusterDocument.create(cluster=node.cluster, document={"nodes": {"node1": {}}})
        net = Network.create(name="admin", subnet="10.30.0.0/24", gateway="10.30.0.1",
                             range_start="10.30.0.2", range_end="10.30.0.254")
        Interface.create(node=node, device="eth0", network=net, address="10.30.0.2")
        Disk.update(node=node).execute()
        # The registry as it was before issue 17's steps.
        migrator = SchemaMigrator.from_database(database)
        apply(*[migrator.drop_column(table, c) for table, columns in (
            ("host", ["url", "tls", "labels", "state", "lost_since", "cpus_override", "mem_override"]),
            ("network", ["driver", "isolation", "segment_prefix", "parent"]),
            ("cluster", ["health", "problems"])) for c in columns])  # (address.segment_id: a
        # foreign key SQLite cannot drop; the step adds it only when missing)
        before = migrations.STEPS.index(migrations._registered_hosts)
        database.execute_sql(f"UPDATE schema_version SET version = {before}")
        assert migrations.migrate(database) == len(migrations.STEPS)
        assert [n.name for n in Node.select()] == ["node1"] and Interface.select().count() == 1
        assert ClusterDocument.select().count() == 1 and Disk.get().node_id == node.id
        cluster = Cluster.get()
        assert (cluster.health, cluster.problems) == ("unknown", [])
        assert (Host.get().url, Host.get().state, Host.get().labels) == ("", "active", {})
        assert (Network.get().driver, Network.get().isolation) == ("bridge", "shared")
    finally:
        db.initialize(saved)
        database.close()


def test_the_embedded_disk_pool_is_sized_from_free_space_or_the_setting(tmp_path, monkeypatch):
    import shutil
    settings = Settings(data_dir=tmp_path)
    settings.disks = None
    usage = shutil.disk_usage(tmp_path)
    for free_gb, expected in ((10, 8), (100, 25), (10_000, 64)):
        monkeypatch.setattr(shutil, "disk_usage", lambda _p, f=free_gb: usage._replace(free=f * 2**30))
        assert settings.disk_count() == expected
    settings.disks = 3
    assert settings.disk_count() == 3

"""Retention: destroyed clusters, events and finished runs older than the window are
pruned; what is younger stays, and a cluster that still exists keeps its last run and
its failure reason whatever their age."""
from __future__ import annotations

import datetime as dt

import pytest

from support import seed

DAY = dt.timedelta(days=1)


def _run(cluster_id: int, age: dt.timedelta, output: str):
    from api.core.models import Run, utcnow
    when = utcnow() - age
    return Run.create(cluster=cluster_id, action="start", status="failed", started=when,
                      finished=when, stdout=output).id


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request, tmp_path):
    from api.core.config import Settings
    from api.platform import Platform
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    platform = Platform(Settings(data_dir=tmp_path / "data", database_url=url))
    yield platform
    platform.database.close()


def test_retention_prunes_only_what_is_older_than_the_window(registry):
    from api.core.models import Cluster, Event, Node, Run
    from api.core.retention import prune
    owner, prod = seed.user("alice"), seed.product()
    old_destroyed = seed.add_clusters(owner, prod, 3, status="destroyed", age=40 * DAY, nodes=2)
    young_destroyed = seed.add_clusters(owner, prod, 1, status="destroyed", age=20 * DAY)
    (failed,) = seed.add_clusters(owner, prod, 1, status="failed", age=60 * DAY, nodes=1)
    Cluster.update(reason="task 'start slurmctld' failed on node0").where(Cluster.id == failed).execute()
    (ready,) = seed.add_clusters(owner, prod, 1, status="ready", age=5 * DAY)
    old_runs = [_run(failed, 50 * DAY, f"old output {i}") for i in range(3)]
    last_failed_run = _run(failed, 45 * DAY, "the failing run")
    older_ready_run = _run(ready, 35 * DAY, "old")
    young_run = _run(ready, 2 * DAY, "recent")
    Event.create(cluster=ready, component="framework", message="recent event")
    for cid in old_destroyed:
        _run(cid, 41 * DAY, "gone with its cluster")

    removed = prune(30, batch=2, pause=0)  # small batches: many transactions, same result

    # Their own events and runs go with the three old destroyed clusters (not counted).
    assert removed == {"clusters": 3, "events": 1, "runs": 4}
    left = {c.id for c in Cluster.select()}
    assert left == {*young_destroyed, failed, ready}
    assert not Node.select().where(Node.cluster.in_(old_destroyed)).exists()
    assert not Run.select().where(Run.cluster.in_(old_destroyed)).exists()
    # The failed cluster is older than the window and kept: its reason, nodes and last run.
    kept = Cluster.get_by_id(failed)
    assert kept.reason == "task 'start slurmctld' failed on node0"
    assert Node.select().where(Node.cluster == failed).count() == 1
    runs = {r.id: r.stdout for r in Run.select()}
    assert last_failed_run in runs and runs[last_failed_run] == "the failing run"
    assert not set(old_runs) & set(runs)
    assert young_run in runs and older_ready_run not in runs
    # Events: those of the window stay (the young clusters' "registered" and the recent one).
    messages = sorted(e.message for e in Event.select())
    assert messages == ["destroyed: seeded", "ready: seeded", "recent event"]
    assert prune(30) == {"clusters": 0, "events": 0, "runs": 0}  # a second pass finds nothing
    assert prune(0) == {"clusters": 0, "events": 0, "runs": 0}  # 0 keeps everything


def test_a_destroyed_cluster_still_holding_a_disk_or_an_address_on_a_lost_host_is_kept(registry):
    # Destroyed while its host was lost (issue 17): its nodes keep their disk and address
    # until the host answers and they are cleaned up. Pruning it would free a disk with
    # its data still on it, and an address its old container may still use.
    from api.core.models import Address, Cluster, Disk, Host, Interface, Network, Node, utcnow
    from api.core.retention import prune
    from api.infra import disk as disks
    from api.infra import network
    owner, prod = seed.user("hal"), seed.product()
    with_disk, with_address, done = seed.add_clusters(owner, prod, 3, status="destroyed", age=40 * DAY, nodes=1)
    host = Host.create(name="node-a", url="tcp://192.0.2.11:2375", lost_since=utcnow())
    net = Network.create(name="lab", subnet="10.78.0.0/24", gateway="10.78.0.1", range_start="10.78.0.2",
                         range_end="10.78.0.254")
    disk_node, address_node = (Node.get(Node.cluster == c) for c in (with_disk, with_address))
    Node.update(host=host, status="destroyed").where(Node.cluster.in_([with_disk, with_address])).execute()
    Disk.create(host=host, name="d0", path="/srv/node-a/d0", node=disk_node)
    iface = Interface.create(node=address_node, device="eth0", network=net, address="10.78.0.2")
    Address.create(network=net, address="10.78.0.2", interface=iface)

    assert prune(30, pause=0)["clusters"] == 1
    assert {c.id for c in Cluster.select()} == {with_disk, with_address}  # only `done` went
    # The host answered and recovery gave both back: now they go.
    network.release_nodes([address_node.id])
    disks.release_nodes(Cluster.get_by_id(with_disk), [disk_node.id])
    assert prune(30, pause=0)["clusters"] == 2
    assert not Cluster.select().exists() and Disk.get().node is None and not Address.select().exists()

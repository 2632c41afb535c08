"""The fast reads (compiled lookups, one compiled query for a cluster's members and day-2
state, list rows as plain values with their page's day-2 state in one compiled query, nodes
a page at a time) answer exactly what the plain views answer, for a cluster spread over
several hosts: its health (dead nodes and a failed operation), the operation it runs,
its lifetime and auto_replace, each node's host, disks, and each interface's address and
tenant segment subnet (no Docker: three hosts in the registry, placed and allocated for
real), on SQLite and on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import ipaddress

import pytest

from api.clusters import operations, views
from api.core import status as st
from api.core.models import Cluster, Job, Node, Service, utcnow
from api.framework import allocation
from support.common import ADMIN_TOKEN
from support.rest import TEMPLATE, P, add_product

TWO_NETWORKS = TEMPLATE.replace(
    '"networks": {"eth0": {"type": "dynamic", "networkname": "admin"}}',
    '"networks": {"eth0": {"type": "dynamic", "networkname": "admin"}, '
    '"eth1": {"type": "dynamic", "networkname": "storage"}}')


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path):
    """The conftest's settings, on each database (the members query is one UNION whose
    column types PostgreSQL checks)."""
    from api.core.config import Settings
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, database_url=url)


def _plain_nodes(cluster: Cluster) -> list[dict]:
    """Each node's view the slow way: one node at a time, every part looked up on its own."""
    return [views.node_view(n) for n in Node.select().where(Node.cluster == cluster).order_by(Node.id)]


def _plain(cluster_id: int, with_names: bool = True) -> dict:
    """A cluster's view the plain way: models, and day2_of's own queries."""
    cluster = Cluster.get_by_id(cluster_id)
    day2 = views.day2_of([cluster])
    if not with_names:
        return views.cluster_view(cluster, day2=day2)
    names = [n.name for n in Node.select().where(Node.cluster == cluster).order_by(Node.id)]
    services = [s.name for s in Service.select().where(Service.cluster == cluster).order_by(Service.id)]
    return views.cluster_view(cluster, names, services, day2=day2)


def _same(client, uri: str, cluster_id: int) -> tuple[dict, dict]:
    """The cluster's GET and its list row, each equal to its plain view."""
    got = client.simulate_get(uri)
    assert got.status_code == 200, got.text
    assert got.json == _plain(cluster_id)
    listed = client.simulate_get(f"{P}/clusters/admin/wide").json["clusters"]
    assert listed == [_plain(cluster_id, with_names=False)]
    return got.json, listed[0]


def _op(cluster_id: int, kind: str, status: str, reason: str = "", step: str = "", progress: int = 0) -> int:
    return Job.create(cluster=cluster_id, kind=kind, status=status, reason=reason, step=step,
                      progress=progress, who="admin").id


def _launch_on_three_hosts(client) -> Cluster:
    add_product(client, name="wide", template=TWO_NETWORKS)
    r = client.simulate_post(f"{P}/products/wide/1.0", json={"size": 6, "cpu": 1})
    assert r.status_code == 202, r.text
    cluster = Cluster.select().order_by(Cluster.id.desc()).first()
    nodes = list(Node.select().where(Node.cluster == cluster).order_by(Node.id))
    allocation.place_cluster(cluster, nodes)
    return cluster


def test_fast_reads_match_the_plain_views_for_a_cluster_on_three_hosts(client, platform, three_hosts):
    assert "eth1" in TWO_NETWORKS
    cluster = _launch_on_three_hosts(client)
    uri = f"{P}/clusters/admin/wide/1.0/{cluster.seq}"
    Node.update(status=st.NodeStatus.RUNNING).where(Node.cluster == cluster).execute()

    # Registered: health unknown whatever the nodes say; the launch is no operation.
    view, row = _same(client, uri, cluster.id)
    assert view["health"] == {"status": "unknown", "problems": []} and view["operation"] is None
    assert view["nodes"] == [f"node{i}" for i in range(1, 7)] and view["expires"] is None

    # Ready, with a lifetime and auto_replace, a lost node, a failed resize, then a
    # cancelled restart (which says nothing of health) and a pending status check queued.
    expires = (utcnow() + dt.timedelta(hours=8)).replace(microsecond=0)
    Cluster.update(status=st.READY, expires=expires, auto_replace=True).where(Cluster.id == cluster.id).execute()
    Node.update(status=st.NodeStatus.LOST, reason="host node-b lost").where(
        (Node.cluster == cluster) & (Node.name == "node2")).execute()
    failed = _op(cluster.id, "resize", st.OperationStatus.FAILED, reason="scale_out failed on node7")
    _op(cluster.id, "restart", st.OperationStatus.CANCELLED, reason="cancelled by admin")
    head = _op(cluster.id, "status", st.OperationStatus.RUNNING, step="running the playbook (status)", progress=40)
    _op(cluster.id, "restart", st.OperationStatus.PENDING)
    view, row = _same(client, uri, cluster.id)
    assert view["health"] == {"status": "degraded", "problems": [
        {"node": "node2", "status": "lost", "reason": "host node-b lost"},
        {"operation": failed, "op": "resize", "status": "failed", "reason": "scale_out failed on node7"}]}
    assert view["operation"] == {"id": head, "uri": f"{P}/queue/{head}", "op": "status", "status": "running",
                                 "step": "running the playbook (status)", "progress": 40}
    assert view["expires"] == expires.isoformat() and view["auto_replace"] is True
    assert row["health"] == view["health"] and row["operation"] == view["operation"]

    # The check succeeds: it judges health now (the failed resize no longer does), and
    # the pending restart is the head.
    operations.finish(Job.get_by_id(head), st.OperationStatus.SUCCEEDED)
    view, _ = _same(client, uri, cluster.id)
    assert [p.get("node") for p in view["health"]["problems"]] == ["node2"]
    assert view["operation"]["op"] == "restart" and view["operation"]["status"] == "pending"

    # Nodes a page at a time (five queries a page) against one node at a time.
    paged, url, pages = [], f"{uri}/nodes?limit=4", 0
    while url and pages < 5:
        page = client.simulate_get(url)
        assert page.status_code == 200, page.text
        paged += page.json["nodes"]
        url, pages = page.json["next"], pages + 1
    assert pages == 2 and paged == _plain_nodes(cluster)
    assert sorted({n["host"] for n in paged}) == ["node-a", "node-b", "node-c"]
    interfaces = [i for n in paged for i in n["networks"]]
    assert len(interfaces) == 12 and all(i["address"] and i["subnet"] for i in interfaces)
    assert {i["networkname"] for i in interfaces} == {"admin", "storage"}
    for i in interfaces:  # each address inside its own segment's subnet
        assert ipaddress.ip_address(i["address"]) in ipaddress.ip_network(i["subnet"])
    assert all(d["disk"] and d["path"].startswith(f"/srv/{n['host']}/") for n in paged for d in n["disks"])


def test_a_page_of_clusters_reads_its_operations_and_health_in_a_fixed_number_of_queries(client, platform):
    from api.core.models import db
    add_product(client, name="wide")
    for _ in range(6):
        assert client.simulate_post(f"{P}/products/wide/1.0", json={"size": 2}).status_code == 202
    ids = [c.id for c in Cluster.select().order_by(Cluster.id)]
    Cluster.update(status=st.READY).execute()
    for cid in ids[::2]:
        _op(cid, "restart", st.OperationStatus.PENDING)
        _op(cid, "resize", st.OperationStatus.FAILED, reason="no room")

    def queries(limit: int) -> int:
        count = 0
        real = db.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            nonlocal count
            count += 1
            return real(sql, params, *args, **kwargs)
        db.obj.execute_sql = counting
        try:
            page = client.simulate_get(f"{P}/clusters?limit={limit}")
        finally:
            del db.obj.execute_sql
        assert page.status_code == 200 and len(page.json["clusters"]) == limit, page.text
        assert page.json["clusters"] == [_plain(cid, with_names=False) for cid in ids[:limit]]
        return count

    client.simulate_get(f"{P}/clusters?limit=1")  # the token's lookup, cached from now on
    # The page's ids and stamps, then the rows and the day-2 state of those whose views
    # are not kept (the first page kept one): none per row.
    few = queries(2)
    assert few == queries(6) == 3
    assert queries(6) == 1  # every view kept: only the stamps are read
    _op(ids[3], "restart", st.OperationStatus.PENDING)  # a change: its view is read again
    assert queries(6) == 3
    degraded = [c for c in client.simulate_get(f"{P}/clusters").json["clusters"]
                if c["health"]["status"] == "degraded"]
    assert len(degraded) == 3 and all(c["operation"]["op"] == "restart" for c in degraded)

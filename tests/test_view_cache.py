"""Kept views (api/http/view_cache.py) never outlive what they show: a cluster's GET and
a page of clusters answer every change made by another process (a controller, an
orchestrator: here another connection writing SQL, which no code of ours sees), the GET
carries an ETag and answers 304 to a client that has the current view, and nobody learns
of another user's cluster through it; on SQLite and PostgreSQL."""
from __future__ import annotations

import sqlite3

import pytest
from falcon import testing

from support.common import ADMIN_TOKEN
from support.rest import P, add_product, add_user, as_user


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request, tmp_path):
    from api.core.config import Settings
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN, database_url=url)


@pytest.fixture
def other(settings, platform):
    """Another process's connection to the registry: runs one SQL statement and commits."""
    if settings.database_url:
        import psycopg2
        conn = psycopg2.connect(settings.database_url)
        mark = "%s"
    else:
        conn = sqlite3.connect(settings.data_dir / "bdp.sqlite", timeout=15)
        mark = "?"

    def run(sql: str, *params):
        cursor = conn.cursor()
        cursor.execute(sql.replace("?", mark), params)
        conn.commit()
    yield run
    conn.close()


def _cluster(client, size: int = 2) -> tuple[str, int]:
    if client.simulate_get(f"{P}/products/kept/1.0").status_code == 404:
        add_product(client, name="kept")
    r = client.simulate_post(f"{P}/products/kept/1.0", json={"size": size})
    assert r.status_code == 202, r.text
    from api.core.models import Cluster
    c = Cluster.select().order_by(Cluster.id.desc()).first()
    return f"{P}/clusters/admin/kept/1.0/{c.seq}", c.id


def test_a_cluster_get_shows_each_change_another_process_makes(client, other):
    uri, cid = _cluster(client)
    first = client.simulate_get(uri)
    assert first.status_code == 200 and first.json["nodes"] == ["node1", "node2"]
    assert client.simulate_get(uri).json == first.json  # kept, the same

    other('UPDATE "cluster" SET "status" = ?, "progress" = ? WHERE "id" = ?', "ready", 100, cid)
    view = client.simulate_get(uri).json
    assert (view["status"], view["progress"], view["health"]["status"]) == ("ready", 100, "healthy")

    other('UPDATE "node" SET "status" = ?, "reason" = ? WHERE "cluster_id" = ? AND "name" = ?',
          "failed", "oom killed", cid, "node2")
    view = client.simulate_get(uri).json
    assert view["health"] == {"status": "degraded", "problems": [
        {"node": "node2", "status": "failed", "reason": "oom killed"}]}

    other('INSERT INTO "job" ("cluster_id", "kind", "status", "step", "progress", "params", "who", '
          '"created", "reason") VALUES (?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP, ?)',
          cid, "restart", "running", "restarting node1", 40, "{}", "admin", "")
    operation = client.simulate_get(uri).json["operation"]
    assert (operation["op"], operation["status"], operation["progress"]) == ("restart", "running", 40)
    other('UPDATE "job" SET "progress" = ? WHERE "cluster_id" = ? AND "kind" = ?', 80, cid, "restart")
    assert client.simulate_get(uri).json["operation"]["progress"] == 80

    other('INSERT INTO "service" ("cluster_id", "name", "nodes", "properties") VALUES (?, ?, ?, ?)',
          cid, "extra", '["node1"]', "{}")
    assert client.simulate_get(uri).json["services"] == ["all", "extra"]
    other('DELETE FROM "node" WHERE "cluster_id" = ? AND "name" = ?', cid, "node2")
    view = client.simulate_get(uri).json
    assert view["nodes"] == ["node1"] and view["health"]["status"] == "healthy"

    other('DELETE FROM "cluster" WHERE "id" = ?', cid)
    assert client.simulate_get(uri).status_code == 404


def test_a_page_shows_each_change_another_process_makes(client, other):
    uris = [_cluster(client, size=1) for _ in range(3)]
    page = f"{P}/clusters/admin?limit=10"

    def listed() -> dict[int, dict]:
        r = client.simulate_get(page)
        assert r.status_code == 200, r.text
        return {c["id"]: c for c in r.json["clusters"]}
    before = listed()
    assert sorted(before) == [1, 2, 3] and listed() == before
    (_, second), (_, third) = uris[1], uris[2]
    other('UPDATE "cluster" SET "status" = ?, "step" = ? WHERE "id" = ?', "configuring", "2/5", second)
    other('UPDATE "node" SET "status" = ?, "reason" = ? WHERE "cluster_id" = ?', "lost", "host gone", third)
    other('UPDATE "cluster" SET "status" = ? WHERE "id" = ?', "ready", third)
    after = listed()
    assert (after[2]["status"], after[2]["step"]) == ("configuring", "2/5")
    assert after[3]["health"] == {"status": "degraded", "problems": [
        {"node": "node1", "status": "lost", "reason": "host gone"}]}
    assert after[1] == before[1]
    other('DELETE FROM "cluster" WHERE "id" = ?', second)
    assert sorted(listed()) == [1, 3]


def test_a_cluster_get_has_an_etag_and_answers_304_until_it_changes(client, other):
    uri, cid = _cluster(client)
    first = client.simulate_get(uri)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    same = client.simulate_get(uri, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.text == "" and same.headers["etag"] == etag
    assert client.simulate_get(uri, headers={"If-None-Match": '"something-else"'}).status_code == 200

    other('UPDATE "cluster" SET "step" = ? WHERE "id" = ?', "1/3", cid)
    changed = client.simulate_get(uri, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["step"] == "1/3"
    assert changed.headers["etag"] != etag
    # An ETag is no key: another user, or nobody, learns nothing of the cluster with it.
    bob = add_user(client, "bob")
    for headers in (as_user(bob), {"x-auth-token": ""}):
        r = client.simulate_get(uri, headers={**headers, "If-None-Match": changed.headers["etag"]})
        assert r.status_code in (401, 403) and r.json["status"] == r.status_code


def test_two_registries_in_one_process_keep_their_own_views(tmp_path, client):
    """The same cluster id and stamp in another registry is another cluster."""
    from api.core.config import Settings
    from api.core.models import ClusterStamp
    from api.http.app import create_app
    from api.platform import Platform
    uri, cid = _cluster(client)
    ClusterStamp.update(stamp=1000).execute()  # moves no stamp: a write to the stamps
    assert client.simulate_get(uri).json["nodes"] == ["node1", "node2"]
    second = Platform(Settings(data_dir=tmp_path / "second", admin_token=ADMIN_TOKEN))
    try:
        other = testing.TestClient(create_app(second), headers={"x-auth-token": ADMIN_TOKEN})
        add_product(other, name="kept")
        assert other.simulate_post(f"{P}/products/kept/1.0", json={"size": 3}).status_code == 202
        ClusterStamp.update(stamp=1000).execute()
        assert ClusterStamp.get().cluster_id == cid
        assert other.simulate_get(uri).json["nodes"] == ["node1", "node2", "node3"]
    finally:
        second.database.close()


def test_stamps_add_no_deadlock_between_a_lost_hosts_nodes_and_a_controller(pg_database):
    """A controller's transaction on one cluster (its row, then a node) and a statement
    marking the nodes of two clusters lost (a host gone) overlap: both commit, and both
    clusters' stamps moved. Bumped at once instead of at commit, the stamps made this a
    deadlock (PostgreSQL aborts one of the two)."""
    import threading

    import psycopg2

    from api.core.db import open_database
    from api.core.models import ClusterStamp, db
    from support import seed
    saved = db.obj
    database = open_database(pg_database)  # bound to the models, migrated
    controller, monitor = psycopg2.connect(pg_database), psycopg2.connect(pg_database)
    try:
        a, b = seed.add_clusters(seed.user("alice"), seed.product(), 2, nodes=1)
        stamps = {s.cluster_id: s.stamp for s in ClusterStamp.select()}
        cur = controller.cursor()
        cur.execute('UPDATE "cluster" SET "step" = %s WHERE "id" = %s', ("1/2", a))
        failures = []

        def lose_host():
            try:
                monitor.cursor().execute('UPDATE "node" SET "status" = %s WHERE "cluster_id" IN (%s, %s)',
                                         ("lost", a, b))
                monitor.commit()
            except psycopg2.Error as e:
                failures.append(e)
        thread = threading.Thread(target=lose_host, daemon=True)
        thread.start()
        thread.join(10)  # it waits for nothing the controller holds
        assert not thread.is_alive() and not failures
        cur.execute('UPDATE "node" SET "reason" = %s WHERE "cluster_id" = %s', ("checked", a))
        controller.commit()
        after = {s.cluster_id: s.stamp for s in ClusterStamp.select()}
        assert after[a] > stamps[a] and after[b] > stamps[b]
    finally:
        for conn in (controller, monitor):
            conn.close()  # a controller left waiting lets go, and the thread with it
        db.initialize(saved)
        database.close()

"""Lists that scale: keyset pages with an opaque cursor, `next` and a Link header, and
the filters users need (status, active, all, product, since), on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from falcon import testing

from support import seed
from support.common import ADMIN_TOKEN

P = "/bigdata/api/v1"


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request, tmp_path):
    """A test client on a fresh registry of either kind."""
    from api.core.config import Settings
    from api.http.app import create_app
    from api.platform import Platform
    url = request.getfixturevalue("pg_database") if request.param == "postgresql" else None
    platform = Platform(Settings(data_dir=tmp_path / "data", database_url=url, admin_token=ADMIN_TOKEN))
    yield testing.TestClient(create_app(platform), headers={"x-auth-token": ADMIN_TOKEN})
    platform.database.close()


def walk(api, path: str, key: str, on_page=None) -> list[dict]:
    """Every item of a list, following `next`; checks the Link header matches it."""
    items, url, pages = [], path, 0
    while url:
        r = api.simulate_get(url)
        assert r.status_code == 200, r.text
        items += r.json[key]
        url = r.json["next"]
        link = r.headers.get("link")
        assert (link == f'<{url}>; rel=next') if url else link is None
        pages += 1
        assert pages < 200
        if on_page:
            on_page(pages)
    return items


def test_a_walk_sees_every_cluster_once_while_clusters_are_added(api):
    alice, prod = seed.user("alice"), seed.product()
    before = set(seed.add_clusters(alice, prod, 53))
    added: list[int] = []
    walked = walk(api, f"{P}/clusters/alice?limit=7", "clusters",
                  on_page=lambda _: added.extend(seed.add_clusters(alice, prod, 2)))
    seqs = [c["id"] for c in walked]
    assert len(seqs) == len(set(seqs)), "a cluster was listed twice"
    from api.core.models import Cluster
    ids = {Cluster.get((Cluster.user == alice) & (Cluster.seq == s)).id for s in seqs}
    assert before <= ids  # every cluster there from the start, exactly once
    assert ids <= before | set(added)
    assert len(walked) > len(before)  # clusters added behind the cursor show up at the end


def test_limit_and_cursor_are_checked_naming_the_parameter(api):
    seed.add_clusters(seed.user("bob"), seed.product(), 3)
    first = api.simulate_get(f"{P}/clusters?limit=2")
    assert len(first.json["clusters"]) == 2 and first.json["next"]
    rest = api.simulate_get(first.json["next"])
    assert [c["id"] for c in rest.json["clusters"]] == [3] and rest.json["next"] is None
    assert len(api.simulate_get(f"{P}/clusters").json["clusters"]) == 3  # default limit 100
    for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"),
                         ("cursor=%%%", "cursor"), ("cursor=bm90IGpzb24", "cursor"),
                         ("status=runing", "status"), ("active=maybe", "active")):
        r = api.simulate_get(f"{P}/clusters?{query}")
        assert r.status_code == 400 and r.json["field"] == field, (query, r.json)
    # A users' cursor is a name: a clusters' list refuses it rather than guessing.
    users = api.simulate_get(f"{P}/users?limit=1").json["next"]
    cursor = users.split("cursor=")[1]
    assert api.simulate_get(f"{P}/clusters?cursor={cursor}").json["field"] == "cursor"


def test_filters_status_active_all_and_product(api):
    carol = seed.user("carol")
    perf, other = seed.product(), seed.product("other", "2")
    seed.add_clusters(carol, perf, 2, status="ready")
    seed.add_clusters(carol, perf, 1, status="failed")
    seed.add_clusters(carol, other, 1, status="destroyed", age=dt.timedelta(hours=1))
    seed.add_clusters(carol, other, 1, status="destroyed", age=dt.timedelta(days=3))

    def names(query: str) -> list[str]:
        r = api.simulate_get(f"{P}/clusters/carol?{query}")
        assert r.status_code == 200, r.text
        return [f"{c['product']}/{c['id']}:{c['status']}" for c in r.json["clusters"]]
    # Default: clusters destroyed longer ago than the list window (24 h) are left out.
    assert names("") == ["perf/1:ready", "perf/2:ready", "perf/3:failed", "other/1:destroyed"]
    assert names("all=true")[-1] == "other/2:destroyed" and len(names("all=true")) == 5
    assert names("active=true") == ["perf/1:ready", "perf/2:ready", "perf/3:failed"]
    assert names("status=ready,failed") == names("active=true")
    assert names("status=destroyed&all=true") == ["other/1:destroyed", "other/2:destroyed"]
    assert names("product=other&all=true") == ["other/1:destroyed", "other/2:destroyed"]
    assert api.simulate_get(f"{P}/clusters/carol/other?all=true").json["clusters"][0]["product"] == "other"


def test_nodes_events_users_and_tokens_come_in_pages(api):
    dave = seed.user("dave")
    (cid,) = seed.add_clusters(dave, seed.product(), 1, nodes=25)
    base = f"{P}/clusters/dave/perf/1.0.0/1"
    nodes = walk(api, base + "/nodes?limit=10", "nodes")
    assert [n["name"] for n in nodes] == [f"node{i}" for i in range(25)]
    from api.core.models import Event, utcnow
    old = utcnow() - dt.timedelta(hours=2)
    Event.update(time=old).where(Event.cluster == cid).execute()
    for i in range(12):
        Event.create(cluster=cid, component="framework", message=f"step {i}")
    events = walk(api, base + "/events?limit=5", "events")
    assert [e["message"] for e in events][1:] == [f"step {i}" for i in range(12)]
    assert len({e["id"] for e in events}) == 13
    since = (old + dt.timedelta(minutes=1)).isoformat() + "Z"
    recent = api.simulate_get(base + "/events", params={"since": since}).json["events"]
    assert [e["message"] for e in recent] == [f"step {i}" for i in range(12)]
    assert api.simulate_get(base + "/events?since=yesterday").json["field"] == "since"
    for name in ("erin", "frank", "gina"):
        seed.user(name)
    assert [u["name"] for u in walk(api, f"{P}/users?limit=2", "users")] == \
        ["admin", "dave", "erin", "frank", "gina"]
    for i in range(3):
        api.simulate_post(f"{P}/users/admin/tokens", json={"name": f"t{i}"})
    tokens = walk(api, f"{P}/users/admin/tokens?limit=2", "tokens")
    assert [t["name"] for t in tokens] == ["bootstrap", "t0", "t1", "t2"]


def test_lists_that_answer_an_array_page_through_the_link_header(api):
    from api.core.models import Network
    for i in range(5):
        Network.create(name=f"net{i}", subnet=f"10.77.{i}.0/24", gateway=f"10.77.{i}.1",
                       range_start=f"10.77.{i}.2", range_end=f"10.77.{i}.254")
    names, url = [], f"{P}/networks?limit=2"
    while url:
        r = api.simulate_get(url)
        assert r.status_code == 200 and isinstance(r.json, list)
        names += [n["name"] for n in r.json]
        link = r.headers.get("link")
        url = link[1:link.index(">")] if link else None
    assert [n for n in names if n.startswith("net")] == [f"net{i}" for i in range(5)]
    assert len(names) == len(set(names))


def walk_links(api, url: str) -> list:
    """Every item of a list that answers an array, following its Link header."""
    items, pages = [], 0
    while url:
        r = api.simulate_get(url)
        assert r.status_code == 200 and isinstance(r.json, list), r.text
        items += r.json
        link = r.headers.get("link")
        url = link[1:link.index(">")] if link else None
        pages += 1
        assert pages < 200
    return items


def test_hosts_their_disks_and_a_networks_addresses_page_through_the_link_header(api):
    from api.core.models import Disk, Host, Network, Segment
    for i in range(5):
        host = Host.create(name=f"node-{i}", url=f"tcp://192.0.2.{i + 1}:2375", cpus=4, mem=8192)
    for d in range(5):
        Disk.create(host=host, name=f"d{d}", path=f"/srv/node-4/d{d}")
    hosts = walk_links(api, f"{P}/hosts?limit=2")
    assert [h["name"] for h in hosts] == [f"node-{i}" for i in range(5)]
    assert hosts[4]["free"] == {"cpus": 4, "mem": 8192, "disks": 5}
    assert [d["path"] for d in walk_links(api, f"{P}/hosts/node-4/disks?limit=2")] == \
        [f"/srv/node-4/d{d}" for d in range(5)]
    assert api.simulate_get(f"{P}/hosts?limit=0").json["field"] == "limit"

    # A shared network's range, and a tenant network's segments, in address order.
    Network.create(name="lab", subnet="10.78.0.0/24", gateway="10.78.0.1", range_start="10.78.0.250",
                   range_end="10.78.1.2")  # across a byte: order is by address, not by text
    full = api.simulate_get(f"{P}/networks/lab/addresses", params={"full": ""}).json
    assert [a["address"] for a in full] == ["10.78.0.250", "10.78.0.251", "10.78.0.252", "10.78.0.253",
                                            "10.78.0.254", "10.78.0.255", "10.78.1.0", "10.78.1.1",
                                            "10.78.1.2"]
    assert walk_links(api, f"{P}/networks/lab/addresses?full&limit=4") == full
    assert walk_links(api, f"{P}/networks/lab/addresses?free&limit=2") == full
    pool = Network.create(name="pool", subnet="10.79.0.0/16", gateway="10.79.0.1", range_start="10.79.0.2",
                          range_end="10.79.255.254", isolation="tenant", segment_prefix=28)
    for index in (3, 1):
        Segment.create(network=pool, owner=index, index=index, subnet=f"10.79.0.{16 * index}/28",
                       gateway=f"10.79.0.{16 * index + 1}")
    addresses = [a["address"] for a in walk_links(api, f"{P}/networks/pool/addresses?limit=5")]
    assert addresses == [f"10.79.0.{16 + k}" for k in range(2, 15)] + [f"10.79.0.{48 + k}" for k in range(2, 15)]
    assert api.simulate_get(f"{P}/networks/pool/addresses?cursor=bm9wZQ").json["field"] == "cursor"

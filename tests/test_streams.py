"""Live events: server-sent event streams served natively by the ASGI app (no request
thread each), resumed with Last-Event-ID exactly once, authenticated like every request
(or by the console's signed cookie), and hundreds of idle followers leaving the API free."""
from __future__ import annotations

import datetime as dt
import socket
import time

import httpx
import pytest

from support import seed
from support.common import ADMIN_TOKEN
from support.sse import ThreadServer, events

P = "/bigdata/api/v1"
H = {"x-auth-token": ADMIN_TOKEN}


@pytest.fixture
def served(platform):
    with ThreadServer(platform) as server:
        yield server


def _emit(cluster_id: int, count: int, start: int = 0) -> None:
    from api.core.models import Event
    for i in range(start, start + count):
        Event.create(cluster=cluster_id, component="framework", message=f"step {i}")


def test_a_follower_resumes_after_a_disconnect_and_sees_every_event_once(served):
    alice = seed.user("alice")
    (cid,) = seed.add_clusters(alice, seed.product(), 1)
    url = f"{served.url}{P}/clusters/alice/perf/1.0.0/1/events?follow=true"
    _emit(cid, 3)
    with httpx.Client(headers=H, timeout=10) as http:
        with http.stream("GET", url) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            first = events(lines, 4)  # the seeded "registered" event and steps 0-2: the backlog
            _emit(cid, 3, start=3)
            first += events(lines, 2)  # two live ones, then the client goes away
        last = first[-1]["id"]
        _emit(cid, 4, start=6)  # written while nobody follows
        with http.stream("GET", url, headers={"Last-Event-ID": str(last)}) as r:
            lines = r.iter_lines()
            second = events(lines, 5)  # step 5 and 6-9, from the backlog
            _emit(cid, 2, start=10)
            second += events(lines, 2)
    messages = [e["message"] for e in first + second]
    assert messages == ["registered: seeded"] + [f"step {i}" for i in range(12)]
    ids = [e["id"] for e in first + second]
    assert ids == sorted(set(ids))  # each once, in order
    assert all(e["cluster"] == f"{P}/clusters/alice/perf/1.0.0/1" for e in first + second)


def test_a_users_stream_has_their_clusters_only_and_needs_their_token(served, client):
    bob, carol = seed.user("bob"), seed.user("carol")
    (b1,) = seed.add_clusters(bob, seed.product(), 1)
    (c1,) = seed.add_clusters(carol, seed.product(), 1)
    bob_token = client.simulate_post(f"{P}/users/bob/tokens", json={"name": "t"}).json["token"]
    url = f"{served.url}{P}/clusters/bob/events?follow=true"
    with httpx.Client(timeout=10) as http:
        assert http.get(url).status_code == 401
        denied = http.get(f"{served.url}{P}/clusters/carol/events?follow=true",
                          headers={"x-auth-token": bob_token})
        assert denied.status_code == 403 and denied.json()["status"] == 403
        other = http.get(f"{served.url}{P}/clusters/carol/perf/1.0.0/1/events?follow=true",
                         headers={"x-auth-token": bob_token})
        assert other.status_code == 403
        bad = http.get(url, headers={"x-auth-token": bob_token, "Last-Event-ID": "x"})
        assert bad.status_code == 400 and bad.json()["field"] == "Last-Event-ID"
        with http.stream("GET", url, headers={"x-auth-token": bob_token}) as r:
            lines = r.iter_lines()
            time.sleep(0.5)  # subscribed: from now on, no backlog without Last-Event-ID
            _emit(c1, 2)
            _emit(b1, 2)
            got = events(lines, 2)
    assert [(e["cluster"], e["message"]) for e in got] == [
        (f"{P}/clusters/bob/perf/1.0.0/1", "step 0"), (f"{P}/clusters/bob/perf/1.0.0/1", "step 1")]


def test_the_consoles_cookie_opens_a_stream_until_its_token_is_revoked(served, client):
    dave = seed.user("dave")
    (d1,) = seed.add_clusters(dave, seed.product(), 1)
    (other,) = seed.add_clusters(seed.user("fay"), seed.product(), 1)
    created = client.simulate_post(f"{P}/users/dave/tokens", json={"name": "console"}).json
    with httpx.Client(base_url=served.url, timeout=10) as http:
        r = http.post(f"{P}/session", headers={"x-auth-token": created["token"]})
        assert r.status_code == 200
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and created["token"] not in cookie
        assert f"Path={P};" in cookie or cookie.endswith(f"Path={P}")
        value = http.cookies["bdp_stream"]
        url = f"{P}/clusters/dave/perf/1.0.0/1/events?follow=true"
        with http.stream("GET", url, headers={"Cookie": f"bdp_stream={value}"}) as s:
            assert s.status_code == 200
            assert events(s.iter_lines(), 1)[0]["message"] == "registered: seeded"
        # The console's one stream of every cluster it may see: dave's only (from the
        # start, asked with Last-Event-ID 0), never another user's.
        with http.stream("GET", f"{P}/events?follow=true",
                         headers={"Cookie": f"bdp_stream={value}", "Last-Event-ID": "0"}) as s:
            _emit(other, 1)
            _emit(d1, 1)
            got = events(s.iter_lines(), 2)
        assert [(e["cluster"], e["message"]) for e in got] == [
            (f"{P}/clusters/dave/perf/1.0.0/1", "registered: seeded"),
            (f"{P}/clusters/dave/perf/1.0.0/1", "step 0")]
        forged = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
        assert http.get(url, headers={"Cookie": f"bdp_stream={forged}"}).status_code == 401
        client.simulate_delete(f"{P}/users/dave/tokens/{created['id']}")
        assert http.get(url, headers={"Cookie": f"bdp_stream={value}"}).status_code == 401


def test_an_operation_queued_started_and_finished_reaches_the_clusters_stream(served, client, platform):
    # Operations are Job rows whose steps are Events: queued (API), started and finished
    # (executor) reach every follower of the cluster, as a launch's transitions do.
    from api.orchestrator.operations import Operations
    (cid,) = seed.add_clusters(seed.user("erin"), seed.product(), 1, status="ready")
    url = f"{served.url}{P}/clusters/erin/perf/1.0.0/1/events?follow=true"
    with httpx.Client(headers=H, timeout=10) as http, http.stream("GET", url) as r:
        lines = r.iter_lines()
        assert [e["message"] for e in events(lines, 1)] == ["ready: seeded"]
        queued = client.simulate_post(f"{P}/clusters/erin/perf/1.0.0/1/operations",
                                      json={"op": "extend", "lifetime": "4h"})
        assert queued.status_code == 202, queued.text
        op = queued.json["id"]
        assert Operations(platform).step()  # runs the extension to its end, here
        got = events(lines, 3)
    assert [e["message"].split(":")[0] for e in got] == [
        f"operation extend #{op} queued by admin", f"operation extend #{op} started",
        f"operation extend #{op} succeeded"]
    assert [e["component"] for e in got] == ["api", "operations", "operations"]
    assert all(e["cluster"] == f"{P}/clusters/erin/perf/1.0.0/1" for e in got)


def _open_stream(port: int, path: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nx-auth-token: {ADMIN_TOKEN}\r\n\r\n".encode())
    return s


def _read_until(s: socket.socket, marker: bytes, timeout: float = 20) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_two_hundred_idle_followers_leave_the_api_answering(served):
    erin = seed.user("erin")
    (e1,) = seed.add_clusters(erin, seed.product(), 1)
    path = f"{P}/clusters/erin/perf/1.0.0/1/events?follow=true"
    one = f"{served.url}{P}/clusters/erin/perf/1.0.0/1"
    assert httpx.get(one, headers=H, timeout=5).status_code == 200  # warm: first-call costs aside
    followers = [_open_stream(served.port, path) for _ in range(200)]
    try:
        for s in followers:
            assert b"registered: seeded" in _read_until(s, b"registered: seeded")
        # More followers than request threads (8), all idle: a plain GET is still answered.
        t0 = time.monotonic()
        r = httpx.get(one, headers=H, timeout=5)
        elapsed = time.monotonic() - t0
        assert r.status_code == 200 and elapsed < 1.0, elapsed
        _emit(e1, 1)
        for s in followers[::20]:  # and the one poller fans a new event out to them
            assert b"step 0" in _read_until(s, b"step 0")
    finally:
        for s in followers:
            s.close()


def test_host_events_reach_the_admins_stream_and_users_see_only_their_clusters(served, client, platform):
    from api.core.models import Host, Node, utcnow
    from api.core.status import NodeStatus
    from api.framework.host_monitor import HostMonitor
    from support.host_doubles import EngineDouble, PlatformDouble
    gil = seed.user("gil")
    (g1,) = seed.add_clusters(gil, seed.product(), 1)
    host = Host.create(name="node-a", url="tcp://192.0.2.11:2375", last_seen=utcnow())
    Node.create(cluster=g1, name="node1", host=host, status=NodeStatus.RUNNING)
    monitor = HostMonitor(PlatformDouble(platform.settings, EngineDouble()))
    gil_token = client.simulate_post(f"{P}/users/gil/tokens", json={"name": "t"}).json["token"]
    with httpx.Client(timeout=10) as http:
        with http.stream("GET", f"{served.url}{P}/events?follow=true", headers=H) as admin, \
                http.stream("GET", f"{served.url}{P}/events?follow=true",
                            headers={"x-auth-token": gil_token}) as users:
            admin_lines, user_lines = admin.iter_lines(), users.iter_lines()
            time.sleep(0.5)  # subscribed: from now on
            assert client.simulate_patch(f"{P}/hosts/node-a", json={"state": "drain"}).status_code == 200
            Host.update(last_seen=utcnow() - dt.timedelta(seconds=30)).execute()
            assert monitor.judge() is True  # lost, and its node with it
            Host.update(last_seen=utcnow()).execute()
            assert monitor.judge() is True  # back
            assert client.simulate_patch(f"{P}/hosts/node-a", json={"state": "active"}).status_code == 200
            seen = [(e["cluster"], e["level"], e["message"].split(":")[0].split(";")[0])
                    for e in events(admin_lines, 6)]
            theirs = [(e["cluster"], e["message"].split(":")[0].split(";")[0]) for e in events(user_lines, 2)]
    cluster = f"{P}/clusters/gil/perf/1.0.0/1"
    assert seen == [(None, "warning", "host node-a drained"), (None, "error", "host node-a lost"),
                    (cluster, "error", "host node-a lost"), (None, "info", "host node-a answers again"),
                    (cluster, "info", "host node-a answers again"), (None, "info", "host node-a active")]
    # A user's stream has the events of their own cluster on that host, not the platform's.
    assert theirs == [(cluster, "host node-a lost"), (cluster, "host node-a answers again")]

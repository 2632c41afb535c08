"""Reaching a cluster from a user's own machine (issue 14): endpoints, the HTTP proxy
(WebSockets included), TCP tunnels, `bdp port-forward`, `bdp ssh` and `bdp keys push`,
from a network namespace that reaches only the API's port (support/laptop.py), against a
real `bdp server` and the test bundle tests/support/bundles/webref (a web server, a
WebSocket echo and a TCP echo on node1, declared as endpoints)."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest
from test_client import new_user as user
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from support.common import REPO, wait_for, wait_status
from support.laptop import Laptop
from support.products import FAST, launch

pytestmark = pytest.mark.timeout(600)
BUNDLES = REPO / "tests" / "support" / "bundles"
CLUSTER = "alice/webref/1.0/1"
PROXY = "/bigdata/proxy/alice/webref/1.0/1"
TUNNEL = "/bigdata/api/v1/clusters/alice/webref/1.0/1/nodes/node1/tunnel"


@pytest.fixture
def laptop():
    box = Laptop().up()
    yield box
    box.down()


def ws_status(url: str, token: str | None) -> int:
    """The HTTP status a WebSocket handshake is refused with (101 if it opens)."""
    async def attempt() -> int:
        try:
            async with connect(url, additional_headers={"x-auth-token": token} if token else {},
                               open_timeout=10, proxy=None):
                return 101
        except InvalidStatus as exc:
            body = json.loads(bytes(exc.response.body))
            assert body["status"] == exc.response.status_code and body["message"], body
            return exc.response.status_code
    return asyncio.run(attempt())


async def ws_echo(url: str, token: str, messages: list) -> list:
    async with connect(url, additional_headers={"x-auth-token": token}, open_timeout=10,
                       max_size=None, proxy=None) as ws:
        answers = []
        for message in messages:
            await ws.send(message)
            answers.append(await ws.recv())
        return answers


def test_proxy_and_tunnels_reach_only_the_declared_ports_of_ones_own_cluster(server_factory, laptop):
    server = server_factory(env={**FAST, "BDP_PRODUCTS_DIR": str(BUNDLES)}, host=laptop.host_address).start()
    alice, mallory = user(server, "alice"), user(server, "mallory")
    http = server.http(alice)
    path = launch(http, "webref", "1.0", {"size": 2})
    view = wait_status(http, path, {"ready"}, timeout=300)
    assert view["status"] == "ready", view

    # The endpoints the template declared, with what opens each.
    listed = {e["name"]: e for e in http.get(path + "/endpoints").json()["endpoints"]}
    assert listed["web"]["url"] == f"{PROXY}/web/" and listed["web"]["protocol"] == "http"
    assert listed["echo"]["url"] is None
    assert listed["echo"]["command"] == f"bdp port-forward {CLUSTER} node1 9000:9000"

    web = httpx.Client(base_url=server.url + PROXY + "/web", timeout=30)
    # The node gets the request without the caller's credentials or the platform's cookies.
    r = web.get("/hello?x=1", headers={"x-auth-token": alice, "cookie": "bdp_stream=abc; theirs=1"})
    assert r.status_code == 200, r.text
    seen = r.json()
    assert seen["path"] == "/hello?x=1"
    assert seen["headers"]["accept-encoding"] == "gzip, deflate"  # httpx's, as sent: nothing added
    plain = web.get("/", headers={"x-auth-token": alice, "accept-encoding": "identity"}).json()
    assert plain["headers"]["accept-encoding"] == "identity" and "user-agent" in plain["headers"]
    assert "x-auth-token" not in seen["headers"] and "authorization" not in seen["headers"]
    assert seen["headers"]["cookie"] == "theirs=1"
    assert seen["headers"]["host"] == f"{laptop.host_address}:{server.port}"
    assert seen["headers"]["x-forwarded-prefix"] == f"{PROXY}/web"
    bearer = {"authorization": f"Bearer {alice}"}
    # An endpoint that keeps the prefix (Jupyter's base_url) gets the whole path.
    r = httpx.get(server.url + PROXY + "/whole/api/x?y=1", headers=bearer)
    assert r.json()["path"] == f"{PROXY}/whole/api/x?y=1"
    body = os.urandom(1 << 20)
    assert web.post("/echo", content=body, headers=bearer).content == body
    # Redirects come back under the proxy's path; the endpoint's root gets its slash.
    assert web.get("/redirect", headers=bearer).headers["location"] == f"{PROXY}/web/there"
    assert web.get("/rooted", headers=bearer).headers["location"] == f"{PROXY}/web/there"
    # Cookies a node sets reach the caller alone, scoped to the endpoint's path: the proxy
    # keeps none for the next request (Jupyter's _xsrf would go to every later caller).
    r = httpx.get(server.url + PROXY + "/web/cookie", headers=bearer)
    assert r.headers.get_list("set-cookie") == [f"session=s3cret; Path={PROXY}/web/", f"_xsrf=x1; Path={PROXY}/web/"]
    assert "cookie" not in httpx.get(server.url + PROXY + "/web/", headers=bearer).json()["headers"]
    r = httpx.get(server.url + PROXY + "/web", headers=bearer)
    assert r.status_code == 307 and r.headers["location"] == f"{PROXY}/web/"

    # The console's cookie (POST /session) opens the proxy too; the node never sees it.
    r = http.post("/session")
    assert r.status_code == 200
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("bdp_proxy="))
    assert "Path=/bigdata/proxy" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    value = cookie.split(";", 1)[0]
    seen = web.get("/", headers={"cookie": value}).json()
    assert "cookie" not in seen["headers"]

    # WebSockets pass through, text and binary.
    ws_url = server.url.replace("http:", "ws:") + PROXY + "/web/ws"
    big = os.urandom(200_000)
    assert asyncio.run(ws_echo(ws_url, alice, ["hello", big])) == ["hello", big]
    # A tunnel to a declared tcp port carries bytes; any other port is refused, naming the open ones.
    tunnel = server.url.replace("http:", "ws:") + TUNNEL
    assert asyncio.run(ws_echo(tunnel + "?port=9000", alice, [b"raw bytes"])) == [b"raw bytes"]
    assert ws_status(tunnel + "?port=8001", alice) == 403
    assert ws_status(tunnel + "?port=abc", alice) == 400

    # Wrong endpoint, a tcp one through the proxy, nobody signed in, another user.
    assert web.get("/x", headers={"x-auth-token": "nonsense"}).status_code == 401
    assert httpx.get(server.url + PROXY + "/nosuch/", headers=bearer).status_code == 404
    assert httpx.get(server.url + PROXY + "/echo/", headers=bearer).status_code == 400
    assert web.get("/", headers={"x-auth-token": mallory}).status_code == 403
    assert server.http(mallory).get(path + "/endpoints").status_code == 403
    assert ws_status(ws_url, mallory) == 403 and ws_status(tunnel + "?port=22", mallory) == 403
    assert ws_status(ws_url, None) == 401

    # Once the cluster is destroyed, nothing of it is reachable.
    assert http.delete(path).status_code == 202
    wait_status(http, path, {"destroyed"}, timeout=180)
    assert web.get("/", headers=bearer).status_code == 409
    assert ws_status(tunnel + "?port=9000", alice) == 409


def test_ssh_port_forward_and_keys_push_from_a_laptop_that_reaches_only_the_api(server_factory, laptop, tmp_path):
    server = server_factory(env={**FAST, "BDP_PRODUCTS_DIR": str(BUNDLES)}, host=laptop.host_address).start()
    laptop.only_port(server.port)
    alice, mallory = user(server, "alice"), user(server, "mallory")
    http = server.http(alice)
    path = launch(http, "webref", "1.0", {"size": 1})
    wait_status(http, path, {"ready"}, timeout=300)
    node = http.get(path + "/nodes").json()["nodes"][0]
    address = next(n["address"] for n in node["networks"] if n["device"] == "eth0")

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDP_")}
    env.update(HOME=str(home), BDP_CONFIG=str(home / "bdp.json"), BDP_URL=server.url, BDP_TOKEN=alice)
    key = tmp_path / "id_laptop"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", str(key)], check=True)

    # The laptop reaches nothing but the API: not the node, not another port of the host.
    probe = laptop.run(["python3", "-c", f"import socket; socket.create_connection(('{address}', 22), 3)"], env)
    assert probe.returncode != 0
    probe = laptop.run(["python3", "-c", f"import socket; socket.create_connection(('{laptop.host_address}', 22), 3)"], env)
    assert probe.returncode != 0

    r = laptop.bdp(env, "clusters", "endpoints", CLUSTER)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert rows["web"][1:] == ["node1", "8000/http", f"{server.url}{PROXY}/web/"]
    assert rows["echo"][1:3] == ["node1", "9000/tcp"] and "bdp port-forward" in r.stdout

    # The key is not on the cluster yet (launched before `keys add`): ssh says what to do.
    assert laptop.bdp(env, "keys", "add", f"{key}.pub").returncode == 0
    r = laptop.bdp(env, "ssh", CLUSTER, "node1", "-i", str(key), "--", "hostname")
    assert r.returncode == 255, r.stderr
    assert f"bdp keys push {CLUSTER}" in r.stderr and "does not accept your SSH key" in r.stderr
    r = laptop.bdp(env, "keys", "push", CLUSTER, timeout=300)
    assert r.returncode == 0 and "succeeded" in r.stdout, r.stdout + r.stderr
    r = laptop.bdp(env, "ssh", CLUSTER, "node1", "-i", str(key), "--", "cat", "/root/.ssh/authorized_keys")
    assert r.returncode == 0, r.stderr
    assert "alice@laptop" in r.stdout and "bdp-clusters/alice/webref/1.0/1" in r.stdout
    # The platform's own key still works: a status check passes after the push.
    with server.http() as admin:
        job = admin.post(f"/clusters/{CLUSTER}/operations", json={"op": "status"}).json()
        wait_for(lambda: admin.get(f"/queue/{job['id']}").json()["status"] in ("succeeded", "failed"), 120)
        assert admin.get(f"/queue/{job['id']}").json()["status"] == "succeeded"

    # port-forward: a local port of the laptop is the node's declared tcp port.
    forward = laptop.popen([sys.executable, "-m", "api.cli", "port-forward", CLUSTER, "node1", "19000:9000"], env)
    try:
        line = forward.stdout.readline()
        assert line.startswith("Forwarding 127.0.0.1:19000 -> node1:9000"), line + forward.stderr.read()
        script = ("import socket; s = socket.create_connection(('127.0.0.1', 19000), 5); "
                  "s.sendall(b'through the api'); print(s.recv(100).decode())")
        r = laptop.run(["python3", "-c", script], env)
        assert r.returncode == 0 and r.stdout.strip() == "through the api", r.stderr
    finally:
        forward.terminate()
        forward.wait(10)
    r = laptop.bdp(env, "port-forward", CLUSTER, "node1", "19001:8001")
    assert r.returncode == 1 and "error: 403" in r.stderr and "8001" in r.stderr

    # Another user's token reaches none of it.
    other = {**env, "BDP_TOKEN": mallory}
    r = laptop.bdp(other, "port-forward", CLUSTER, "node1", "19002:9000")
    assert r.returncode == 1 and r.stderr.startswith("error: 403")
    r = laptop.bdp(other, "ssh", CLUSTER, "node1", "-i", str(key), "--", "hostname")
    assert r.returncode != 0 and "403" in r.stderr


def test_the_tunnel_cli_parses_ports_and_listens_only_on_loopback():
    from api.cli.session import ClientError
    from api.cli.tunnel import parse_ports
    assert parse_ports("5432") == (5432, 5432)
    assert parse_ports("15432:5432") == (15432, 5432)
    assert parse_ports("0:22") == (0, 22)
    for bad in ("a:b", "1:0", "70000:22", ""):
        with pytest.raises(ClientError):
            parse_ports(bad)


def test_the_console_links_a_web_ui_that_opens_signed_in_through_the_proxy(server_factory):
    from playwright.sync_api import expect, sync_playwright
    from test_console import CHROMIUM, CHROMIUM_ARGS, open_endpoint
    server = server_factory(env={**FAST, "BDP_PRODUCTS_DIR": str(BUNDLES)}).start()
    alice = user(server, "alice")
    http = server.http(alice)
    path = launch(http, "webref", "1.0", {"size": 1})
    wait_status(http, path, {"ready"}, timeout=300)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            ui = open_endpoint(page, server.url, alice, CLUSTER, "web")
            expect(page.locator("#endpoints")).to_contain_text(f"bdp port-forward {CLUSTER} node1 9000:9000")
            ui.wait_for_load_state()
            assert ui.url == f"{server.url}{PROXY}/web/"
            seen = json.loads(ui.locator("body").inner_text())
            # Signed in by the proxy cookie alone; the node saw neither it nor a token.
            assert seen["path"] == "/" and "x-auth-token" not in seen["headers"]
            assert "bdp_proxy" not in seen["headers"].get("cookie", "")
            # The new tab got nothing of the console's tab: no token in its storage.
            assert ui.evaluate("sessionStorage.length") == 0
        finally:
            browser.close()


def test_spark_ui_and_postgresql_from_a_laptop_that_reaches_only_the_api(server_factory, laptop, tmp_path):
    """Issue 14's done-when: from the laptop, curl fetches the Spark master's UI through the
    proxy, `bdp ssh` runs a command on a node and `bdp port-forward` reaches PostgreSQL;
    another user's token gets 403 on all three."""
    server = server_factory(env=FAST, host=laptop.host_address).start()
    laptop.only_port(server.port)
    alice, mallory = user(server, "alice"), user(server, "mallory")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDP_")}
    env.update(HOME=str(home), BDP_CONFIG=str(home / "bdp.json"), BDP_URL=server.url, BDP_TOKEN=alice)
    other = {**env, "BDP_TOKEN": mallory}
    key = tmp_path / "id_laptop"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert laptop.bdp(env, "keys", "add", f"{key}.pub").returncode == 0
    http = server.http(alice)
    spark = launch(http, "spark", "4.3.0", {"workers": 1})
    pg = launch(http, "postgresql", "15", {"replicas": 1})
    wait_status(http, spark, {"ready"}, timeout=400)
    wait_status(http, pg, {"ready"}, timeout=400)

    # The Spark master's UI, with links under the proxy path (spark.ui.proxyBase).
    ui = f"{server.url}/bigdata/proxy/alice/spark/4.3.0/1/spark-ui/"
    r = laptop.run(["curl", "-sS", "-H", f"x-auth-token: {alice}", ui], env)
    assert r.returncode == 0 and "Spark Master at spark://" in r.stdout, r.stdout[-2000:] + r.stderr
    assert 'href="/bigdata/proxy/alice/spark/4.3.0/1/spark-ui/static/' in r.stdout
    assert "ALIVE" in r.stdout  # the worker, listed on the master's page
    r = laptop.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"x-auth-token: {mallory}", ui], env)
    assert r.stdout == "403"

    # ssh: a password for postgres, set on the primary through the tunnel.
    r = laptop.bdp(env, "ssh", "postgresql/15/1", "pg-primary", "-i", str(key), "--",
                   "su postgres -c \"psql -qAt -c \\\"ALTER ROLE postgres PASSWORD 'laptop-pw'\\\"\"")
    assert r.returncode == 0, r.stderr
    r = laptop.bdp(other, "ssh", "alice/postgresql/15/1", "pg-primary", "-i", str(key), "--", "true")
    assert r.returncode != 0 and "403" in r.stderr

    # port-forward: a SQL client on the laptop queries the primary, which streams to its replica.
    forward = laptop.popen([sys.executable, "-m", "api.cli", "port-forward", "postgresql/15/1", "pg-primary",
                            "15432:5432"], env)
    try:
        line = forward.stdout.readline()
        assert line.startswith("Forwarding 127.0.0.1:15432 -> pg-primary:5432"), line + forward.stderr.read()
        query = ("import psycopg2; c = psycopg2.connect(host='127.0.0.1', port=15432, user='postgres', "
                 "password='laptop-pw', dbname='bdp', connect_timeout=10); k = c.cursor(); "
                 "k.execute(\"select count(*) from pg_stat_replication where state = 'streaming'\"); "
                 "print(k.fetchone()[0])")
        r = laptop.run([sys.executable, "-c", query], env)
        assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr
    finally:
        forward.terminate()
        forward.wait(10)
    r = laptop.bdp(other, "port-forward", "alice/postgresql/15/1", "pg-primary", "15433:5432")
    assert r.returncode == 1 and r.stderr.startswith("error: 403")

"""Short reads served on the event loop (api/http/inline.py): which requests go there, and
what a user sees of it: a client that trickles its upload holds a request thread, not the
reads of everyone else, and an inline read is authenticated and answers errors as any
other. A real uvicorn server on the platform's ASGI app; no Docker."""
from __future__ import annotations

import socket
import time

import httpx
import pytest
from falcon.routing import CompiledRouter

from api.http.app import create_app
from api.http.inline import InlineReads
from support.common import ADMIN_TOKEN
from support.rest import P, add_product
from support.sse import ThreadServer

AUTH = {"x-auth-token": ADMIN_TOKEN}


def _scope(method: str, path: str, headers=()) -> dict:
    return {"type": "http", "method": method, "path": path, "headers": list(headers)}


@pytest.fixture
def reads(platform) -> InlineReads:
    router = CompiledRouter()
    create_app(platform, router)
    return InlineReads(router)


@pytest.mark.parametrize("method, path, headers, inline", [
    ("GET", f"{P}/clusters/admin/demo/1.0/1", (), True),
    ("GET", f"{P}/clusters/admin/demo/1.0/1/", (), True),  # the app strips the slash too
    ("HEAD", f"{P}/clusters", (), True),
    ("GET", f"{P}/health", ((b"content-length", b"0"),), True),
    ("GET", f"{P}/clusters", ((b"content-length", b"5"),), False),  # a body to wait for
    ("GET", f"{P}/clusters", ((b"transfer-encoding", b"chunked"),), False),
    ("DELETE", f"{P}/clusters/admin/demo/1.0/1", (), False),
    ("POST", f"{P}/products/demo/1.0", (), False),
    ("GET", f"{P}/hosts", (), False),  # asks the engines: stays on the thread pool
    ("GET", f"{P}/no/such/route", (), False),
])
def test_only_bodiless_reads_of_inline_resources_run_on_the_loop(reads, method, path, headers, inline):
    assert reads.wants(_scope(method, path, headers)) is inline


def test_a_slow_upload_holds_a_thread_not_the_reads(platform, client):
    add_product(client, "demo", "1.0")
    assert client.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).status_code == 202
    with ThreadServer(platform, threads=1) as server, socket.create_connection(("127.0.0.1", server.port)) as slow:
        # Half a body: the one request thread waits for the rest.
        body = b'{"size": 1}'
        slow.sendall(f"POST {P}/products/demo/1.0 HTTP/1.1\r\nHost: x\r\nx-auth-token: {ADMIN_TOKEN}\r\n"
                     f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body[:4])
        time.sleep(0.5)
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=10) as http:
            started = time.monotonic()
            one = http.get(f"{P}/clusters/admin/demo/1.0/1")
            page = http.get(f"{P}/clusters", params={"limit": 1})
            took = time.monotonic() - started
            assert one.status_code == 200 and one.json()["status"] == "registered"
            assert page.status_code == 200 and [c["id"] for c in page.json()["clusters"]] == [1]
            assert took < 2, f"two reads took {took:.1f} s while an upload trickled"
            # What needs the thread waits for it: proof that it really was held.
            with pytest.raises(httpx.ReadTimeout):
                http.get(f"{P}/hosts", timeout=1.5)
            slow.sendall(body[4:])
            assert b" 202 " in slow.recv(65536).split(b"\r\n", 1)[0] + b" "
            assert http.get(f"{P}/clusters/admin/demo/1.0/2").json()["status"] == "registered"


def test_inline_reads_authenticate_and_answer_errors_as_json(platform, client):
    add_product(client, "demo", "1.0")
    client.simulate_post(f"{P}/products/demo/1.0", json={"size": 1})
    with ThreadServer(platform) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        for path in (f"{P}/clusters/admin/demo/1.0/1", f"{P}/clusters"):
            r = http.get(path)
            assert r.status_code == 401, path
            assert r.json()["status"] == 401 and "authentication required" in r.json()["message"]
        # Another spelling of the path is no route of the app's, inline or not.
        r = http.get("//bigdata/api/v1/clusters/admin/demo/1.0/1")
        assert r.status_code == 404 and r.json()["message"].startswith("no resource at "), r.text
        r = http.get(f"{P}/clusters/admin/demo/1.0/7", headers=AUTH)
        assert r.status_code == 404 and r.json() == {
            "status": 404, "error": "Not Found", "message": "no cluster clusters/admin/demo/1.0/7"}
        r = http.get(f"{P}/clusters/admin/demo/1.0/1", headers=AUTH)
        assert r.status_code == 200 and int(r.headers["content-length"]) == len(r.content)
        assert r.headers["x-content-type-options"] == "nosniff"  # the app's middleware ran

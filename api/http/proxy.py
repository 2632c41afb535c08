"""The http endpoints of clusters, served by the API (issue 14):
`/bigdata/proxy/<user>/<product>/<version>/<id>/<endpoint>/<path>` is `<path>` on the
endpoint's node and port. A user opens a cluster's web UI (Spark's, Dask's dashboard,
JupyterLab) from a laptop that reaches nothing but the API.

Only the cluster's owner and admins get through: the token headers, or the console's
`bdp_proxy` cookie (api/http/stream_auth.py). What reaches the node is the method, the
path below the endpoint, the query, the body and the headers, less the caller's
credentials (the token headers and the platform's cookies) and hop-by-hop headers; the
browser's Host stays, as a reverse proxy's does (Jupyter compares it with Origin). Only
ports a template declared as http endpoints are reachable (api/clusters/endpoints.py).
WebSockets pass through (Jupyter's kernels; api/http/proxy_ws.py). A redirect to the
node's own address comes back under the proxy's path, and so do the node's cookies (the
proxy keeps none of them). An endpoint with `strip_prefix: false` gets the whole path.
Bodies stream both ways: nothing is buffered whole.
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from api.core.config import PROXY_PREFIX
from api.core.errors import DomainError, NotFound, Unreachable
from api.http.raw import refuse_websocket, request_headers, send_error

log = logging.getLogger("bdp.proxy")

PATH = re.compile(rf"^{PROXY_PREFIX}/([^/]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)(/.*)?$", re.DOTALL)
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade"}
SERVER_OWN = {"date", "server"}  # uvicorn writes its own
CREDENTIALS = {"x-auth-token", "authorization"}
PLATFORM_COOKIES = ("bdp_stream", "bdp_proxy")
# The WebSocket handshake's own headers: the client library writes them again.
WS_OWN = {"host", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
          "sec-websocket-protocol"}
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 300.0  # a notebook cell's answer may take minutes


def is_proxy(scope) -> bool:
    return scope["type"] in ("http", "websocket") and scope["path"].startswith(PROXY_PREFIX + "/")


@dataclass
class Target:
    base: str  # the proxy path of the endpoint, no trailing slash
    upstream: str  # "address:port"


def forwarded_headers(headers: dict[str, str], drop=frozenset()) -> list[tuple[str, str]]:
    """The caller's headers as the node may see them: no credentials of ours, no hop-by-hop."""
    out = []
    for name, value in headers.items():
        if name in HOP_BY_HOP or name in CREDENTIALS or name in drop:
            continue
        if name == "cookie":
            value = strip_cookies(value)
            if not value:
                continue
        out.append((name, value))
    return out


def strip_cookies(header: str) -> str:
    """A Cookie header without the platform's cookies (the node must never see them)."""
    kept = [part.strip() for part in header.split(";")
            if part.strip() and part.strip().split("=", 1)[0].strip() not in PLATFORM_COOKIES]
    return "; ".join(kept)


def rewrite_location(location: str, target: Target) -> str:
    """A redirect the node sends, under the proxy's path: to its own address, or to an
    absolute path it thinks is its root."""
    own = f"http://{target.upstream}"
    if location.startswith(own):
        location = location[len(own):] or "/"
    if location.startswith("/") and not location.startswith("//") \
            and not location.startswith(target.base + "/") and location != target.base:
        return target.base + location
    return location


def rewrite_cookie(header: str, target: Target) -> str:
    """A Set-Cookie the node sends, scoped to the endpoint's proxy path: a node's `Path=/`
    would otherwise send its cookie with every request to the API, other endpoints' too.
    A Domain (the node's address) means nothing to the browser: it goes."""
    parts = [part.strip() for part in header.split(";")]
    out = [parts[0]]
    for attr in parts[1:]:
        name, _, value = attr.partition("=")
        if name.strip().lower() == "domain":
            continue
        if name.strip().lower() == "path" and value.startswith("/") and value != target.base \
                and not value.startswith(target.base + "/"):
            attr = f"Path={target.base}{value}"
        out.append(attr)
    return "; ".join(out)


class ProxyHandler:
    def __init__(self, authenticate):
        self.authenticate = authenticate
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, scope, receive, send) -> None:
        websocket = scope["type"] == "websocket"
        try:
            target, rest = await asyncio.to_thread(self._target, scope["path"], request_headers(scope))
        except DomainError as exc:
            if websocket:
                await refuse_websocket(scope, send, exc)
            else:
                await send_error(send, exc)
            return
        if rest is None:  # the endpoint's root without its slash: relative links need one
            query = scope.get("query_string", b"")
            location = target.base + "/" + ("?" + query.decode("latin-1") if query else "")
            await send({"type": "http.response.start", "status": 307,
                        "headers": [(b"location", location.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        if websocket:
            from api.http.proxy_ws import relay
            await relay(scope, receive, send, target, rest)
        else:
            await self._http(scope, receive, send, target, rest)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def _target(self, path: str, headers: dict) -> tuple[Target, str | None]:
        from api.clusters.endpoints import http_target, proxy_base
        from api.clusters.queries import find_cluster
        match = PATH.match(path)
        if match is None:
            raise NotFound(f"no proxy path {path!r}: {PROXY_PREFIX}/<user>/<product>/<version>/<id>/<endpoint>/")
        user, product, version, seq, name, rest = match.groups()
        caller = self.authenticate(headers)
        cluster = find_cluster(caller, user, product, version, seq)
        endpoint, address = http_target(cluster, name)
        base = proxy_base(user, product, version, cluster.seq) + "/" + name
        if rest is not None and not endpoint.get("strip_prefix", True):
            rest = base + rest  # the node serves itself under the proxy's path
        return Target(base, f"{address}:{endpoint['port']}"), rest

    async def _http(self, scope, receive, send, target: Target, rest: str) -> None:
        if self.client is None:
            # A jar that keeps nothing: the client is shared by every caller, so a cookie a
            # node sets must reach only the browser that asked (Jupyter's _xsrf and user
            # cookies would otherwise go to everyone's later requests, and the browser,
            # never sent one, could not post).
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                                            follow_redirects=False, trust_env=False,
                                            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])))
            # Only the caller's headers: httpx's own Accept-Encoding would get a gzipped
            # answer for a client that never asked for one.
            self.client.headers.clear()
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"http://{target.upstream}{rest}" + (f"?{query}" if query else "")
        received = request_headers(scope)
        headers = forwarded_headers(received)
        headers.append(("x-forwarded-prefix", target.base))
        # A request without a body goes without one (a chunked GET upsets some servers).
        body = _body(receive) if received.keys() & {"content-length", "transfer-encoding"} else None
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            upstream = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.info("proxy %s -> %s: %s", scope["path"], target.upstream, exc)
            await send_error(send, Unreachable(f"the endpoint at {target.base} does not answer "
                                               f"({type(exc).__name__}); is its service running?"))
            return
        try:
            out = []
            for name, value in upstream.headers.multi_items():
                name = name.lower()
                if name in HOP_BY_HOP or name in SERVER_OWN:
                    continue
                if name == "location":
                    value = rewrite_location(value, target)
                elif name == "set-cookie":
                    value = rewrite_cookie(value, target)
                out.append((name.encode("latin-1"), value.encode("latin-1")))
            await send({"type": "http.response.start", "status": upstream.status_code, "headers": out})
            async for chunk in upstream.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except (httpx.HTTPError, OSError) as exc:
            log.info("proxy %s: the answer broke off: %s", scope["path"], exc)
        finally:
            await upstream.aclose()


async def _body(receive):
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            return
        if msg.get("body"):
            yield msg["body"]
        if not msg.get("more_body"):
            return

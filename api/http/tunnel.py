"""TCP tunnels over the API (issue 14): a WebSocket at
`.../clusters/<user>/<product>/<version>/<id>/nodes/<node>/tunnel?port=<port>` carries
the bytes of one TCP connection to that node's port, both ways, as binary messages.
`bdp ssh` (as ssh's ProxyCommand) and `bdp port-forward` use it, so a laptop that
reaches only the API reaches its nodes' SSH and declared ports.

Only the cluster's owner and admins (the token headers), only while the cluster's nodes
run, and only to the node's SSH port or a port the template declared as an endpoint
(api/clusters/endpoints.py): never an arbitrary address or port.
"""
from __future__ import annotations

import asyncio
import logging
import re
from urllib.parse import parse_qs

from api.core.config import API_PREFIX
from api.core.errors import DomainError, Invalid, Unreachable
from api.http.proxy_ws import pump
from api.http.raw import refuse_websocket, request_headers

log = logging.getLogger("bdp.tunnel")

PATH = re.compile(rf"^{API_PREFIX}/clusters/([^/]+)/([^/]+)/([^/]+)/([^/]+)/nodes/([^/]+)/tunnel/?$")
CONNECT_TIMEOUT = 5.0
CHUNK = 65536


def is_tunnel(scope) -> bool:
    return scope["type"] == "websocket" and PATH.match(scope["path"]) is not None


class TunnelHandler:
    def __init__(self, authenticate):
        self.authenticate = authenticate

    async def __call__(self, scope, receive, send) -> None:
        try:
            address, port = await asyncio.to_thread(self._target, scope)
            reader, writer = await self._open(address, port)
        except DomainError as exc:
            await refuse_websocket(scope, send, exc)
            return
        first = await receive()
        if first["type"] != "websocket.connect":
            writer.close()
            return
        await send({"type": "websocket.accept"})
        log.info("tunnel %s -> %s:%d opened", scope["path"], address, port)

        async def to_node() -> None:
            while True:
                msg = await receive()
                if msg["type"] == "websocket.disconnect":
                    return
                data = msg.get("bytes") or (msg.get("text") or "").encode()
                writer.write(data)
                await writer.drain()

        async def to_client() -> None:
            while data := await reader.read(CHUNK):
                await send({"type": "websocket.send", "bytes": data})

        await pump(to_node(), to_client())
        writer.close()
        try:
            await send({"type": "websocket.close", "code": 1000})
        except Exception:  # noqa: BLE001 - the client has gone already
            pass

    def _target(self, scope) -> tuple[str, int]:
        from api.clusters.endpoints import tunnel_target
        from api.clusters.queries import find_cluster
        user, product, version, seq, node = PATH.match(scope["path"]).groups()
        caller = self.authenticate(request_headers(scope))
        ports = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("port")
        if not ports:
            raise Invalid("say which port of the node: ?port=<port>", field="port")
        cluster = find_cluster(caller, user, product, version, seq)
        return tunnel_target(cluster, node, ports[-1])

    @staticmethod
    async def _open(address: str, port: int):
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as exc:
            raise Unreachable(f"{address}:{port} does not answer ({type(exc).__name__}); "
                              "is the node running and its service listening?") from None

"""WebSockets through the proxy (api/http/proxy.py): the browser's connection is accepted
only once the node's has opened (with the subprotocol the node chose), then messages are
relayed both ways as they come, text as text and binary as binary, until either side
closes. Jupyter's kernel channels are such a connection."""
from __future__ import annotations

import asyncio
import logging

from api.core.errors import Unreachable
from api.http.raw import refuse_websocket, request_headers

log = logging.getLogger("bdp.proxy")


async def relay(scope, receive, send, target, rest: str) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    from api.http.proxy import CONNECT_TIMEOUT, WS_OWN, forwarded_headers
    query = scope.get("query_string", b"").decode("latin-1")
    url = f"ws://{target.upstream}{rest}" + (f"?{query}" if query else "")
    first = await receive()
    if first["type"] != "websocket.connect":
        return
    received = request_headers(scope)
    headers = forwarded_headers(received, drop=WS_OWN | {"origin"})
    try:
        upstream = await connect(url, additional_headers=headers, subprotocols=scope.get("subprotocols") or None,
                                 origin=node_origin(received, target), open_timeout=CONNECT_TIMEOUT,
                                 max_size=None, compression=None, proxy=None)
    except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
        log.info("proxy websocket %s -> %s: %s", scope["path"], target.upstream, exc)
        await refuse_websocket(scope, send, Unreachable(
            f"the endpoint at {target.base} refused the WebSocket ({type(exc).__name__})"))
        return
    await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})

    async def to_node() -> None:
        while True:
            msg = await receive()
            if msg["type"] == "websocket.disconnect":
                return
            data = msg.get("text") if msg.get("text") is not None else msg.get("bytes")
            if data is not None:
                await upstream.send(data)

    async def to_browser() -> None:
        async for data in upstream:
            key = "text" if isinstance(data, str) else "bytes"
            await send({"type": "websocket.send", key: data})

    await pump(to_node(), to_browser())
    await upstream.close()
    try:
        await send({"type": "websocket.close", "code": upstream.close_code or 1000})
    except Exception:  # noqa: BLE001 - the browser has gone already
        pass


def node_origin(received: dict, target) -> str | None:
    """The Origin the node sees. The client library writes the node's own Host, so a page
    of the API's own origin (the proxied UI itself) is said to come from the node's, which
    a UI that compares Origin with Host (Jupyter) accepts; any other origin passes as it
    is, so such a UI still refuses a page of another site."""
    origin, host = received.get("origin"), received.get("host", "")
    if origin in (f"http://{host}", f"https://{host}"):
        return f"http://{target.upstream}"
    return origin


async def pump(*directions) -> None:
    """Run both directions of a relay until one ends (a side closed); stop the other."""
    tasks = [asyncio.ensure_future(d) for d in directions]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.debug("relay ended: %r", task.exception())

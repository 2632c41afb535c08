"""What the native ASGI handlers (streams, proxy, tunnel) share: their request headers
as a dict, and domain errors answered in the API's JSON shape (over HTTP, or, for a
WebSocket handshake, as its HTTP answer where the server supports that)."""
from __future__ import annotations

import json

from api.core.errors import DomainError
from api.http import headers as security


def request_headers(scope) -> dict[str, str]:
    """Lower-case names; a repeated header keeps its last value (as Falcon's req.get_header)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _answer(exc: DomainError) -> tuple[int, list, bytes]:
    from api.http.errors import from_domain
    err = from_domain(exc)
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *[(k.lower().encode(), v.encode()) for k, v in {**security.HEADERS, **err.headers}.items()]]
    return err.status, headers, body


async def send_error(send, exc: DomainError) -> None:
    status, headers, body = _answer(exc)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def refuse_websocket(scope, send, exc: DomainError) -> None:
    """Refuse a WebSocket handshake: the JSON error with its status where the server has
    the ASGI `websocket.http.response` extension, else a bare close (a 403)."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        status, headers, body = _answer(exc)
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})

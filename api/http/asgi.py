"""The ASGI application a server runs: event streams (api/http/streams.py), the proxy
of clusters' web UIs (api/http/proxy.py) and TCP tunnels (api/http/tunnel.py) served
natively, short reads run by the Falcon WSGI app on the loop (api/http/inline.py), and
everything else handed to the Falcon WSGI app through a2wsgi's thread pool.

An idle stream holds no thread, so hundreds of followers leave the request threads to
everyone else; the one event poller starts and stops with the server (ASGI lifespan).
"""
from __future__ import annotations

from a2wsgi import WSGIMiddleware

from api.core.errors import NotFound
from api.http import inline, proxy, streams, tunnel
from api.http.raw import refuse_websocket
from api.http.stream_auth import PROXY_COOKIE, authenticator


class PlatformASGI:
    def __init__(self, platform, wsgi_app, router, threads: int = 8):
        """`router`: the Falcon app's, which tells the short reads (api/http/inline.py)."""
        self.app = wsgi_app
        self.inline = inline.InlineReads(router)
        self.wsgi = WSGIMiddleware(wsgi_app, workers=threads)
        self.hub = streams.EventHub(interval=platform.settings.event_poll)
        self.streams = streams.StreamHandler(self.hub, authenticator(platform.settings))
        self.proxy = proxy.ProxyHandler(authenticator(platform.settings, cookie=PROXY_COOKIE))
        # Tunnels take the token headers only: `bdp` sends them, a browser never opens one.
        self.tunnel = tunnel.TunnelHandler(authenticator(platform.settings, cookie=""))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and streams.is_stream(scope):
            await self.streams(scope, receive, send)
        elif proxy.is_proxy(scope):
            await self.proxy(scope, receive, send)
        elif tunnel.is_tunnel(scope):
            await self.tunnel(scope, receive, send)
        elif scope["type"] == "websocket":
            await refuse_websocket(scope, send, NotFound(
                f"no WebSocket at {scope['path']}: tunnels are .../nodes/<node>/tunnel?port="))
        elif self.inline.wants(scope):
            await inline.serve(self.app, scope, send)
        else:
            await self.wsgi(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await self.hub.start()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.hub.stop()
                await self.proxy.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_asgi(platform, threads: int = 8) -> PlatformASGI:
    from falcon.routing import CompiledRouter

    from api.http.app import create_app
    router = CompiledRouter()
    return PlatformASGI(platform, create_app(platform, router), router, threads)

"""The ASGI application a server runs: event streams (api/http/streams.py) served
natively, everything else handed to the Falcon WSGI app through a2wsgi's thread pool.

An idle stream holds no thread, so hundreds of followers leave the request threads to
everyone else; the one event poller starts and stops with the server (ASGI lifespan).
"""
from __future__ import annotations

from a2wsgi import WSGIMiddleware

from api.http import streams
from api.http.stream_auth import authenticator


class PlatformASGI:
    def __init__(self, platform, wsgi_app, threads: int = 8):
        self.wsgi = WSGIMiddleware(wsgi_app, workers=threads)
        self.hub = streams.EventHub(interval=platform.settings.event_poll)
        self.streams = streams.StreamHandler(self.hub, authenticator(platform.settings))

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and streams.is_stream(scope):
            await self.streams(scope, receive, send)
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
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_asgi(platform, threads: int = 8) -> PlatformASGI:
    from api.http.app import create_app
    return PlatformASGI(platform, create_app(platform), threads)

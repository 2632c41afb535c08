"""Short reads served on the event loop: the Falcon app is called in the loop's own
thread, with no trip through a2wsgi's thread pool.

Why: a2wsgi hands every request to a worker thread and every piece of the response back
to the loop, each hop a wait for the GIL; for a read that takes the app a few tenths of a
millisecond, those hops cost more than the read and make the latency's tail (measured in
bench/bench_api.py, issue 13). A read marked `inline` (a bodiless GET of a bounded
database lookup: one cluster, a page of a list) runs here; the loop is busy for as long
as the read takes, which is what a synchronous worker would be. Anything that waits on
an engine, a node or a client's body stays on the thread pool.
"""
from __future__ import annotations

import io
import sys

from a2wsgi.wsgi import build_environ

_EMPTY = io.BytesIO(b"")


class InlineReads:
    """Which requests run inline: a bodiless GET or HEAD whose route's resource says
    `inline = True`, found by the app's own router (so no other spelling of a path
    decides it, and the Falcon app still authenticates and routes it as any other)."""

    def __init__(self, router):
        self.router = router

    def wants(self, scope) -> bool:
        if not bodiless(scope):
            return False
        path = scope["path"]
        found = self.router.find(path.rstrip("/") if len(path) > 1 else path)
        return found is not None and getattr(found[0], "inline", False)


def bodiless(scope) -> bool:
    """A GET or HEAD that announces no body (a body would have to be awaited)."""
    if scope["method"] not in ("GET", "HEAD"):
        return False
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return False
    return True


async def serve(app, scope, send) -> None:
    """Run the WSGI `app` for `scope` now and send its whole answer."""
    environ = build_environ(scope, _EMPTY)
    environ["wsgi.errors"] = sys.stderr
    environ["wsgi.multithread"] = False
    started: list = []

    def start_response(status, headers, exc_info=None):
        started[:] = [int(status.split(" ", 1)[0]),
                      [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]]
        return _no_write

    iterable = app(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        getattr(iterable, "close", lambda: None)()
    await send({"type": "http.response.start", "status": started[0], "headers": started[1]})
    await send({"type": "http.response.body", "body": body})


def _no_write(chunk) -> None:
    raise RuntimeError("inline reads return their body; write() is not supported")

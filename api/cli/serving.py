"""Serving the API: uvicorn runs the ASGI app (api/http/asgi.py) in this process, or, for
`bdp api --workers N`, in N pre-forked worker processes sharing one listening socket.

Workers are forked after the parent has migrated the registry, made the admin token and
loaded the bundles, so they only open the database and serve. The parent restarts a
worker that dies and passes SIGTERM/SIGINT on to them.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import time

log = logging.getLogger("bdp.server")


class _Server:
    """A uvicorn server whose exit also ends the event streams at once (they would
    otherwise hold the graceful shutdown until its timeout)."""

    def __init__(self, app, host: str, port: int):
        import uvicorn

        class Server(uvicorn.Server):
            def handle_exit(inner, sig, frame):  # noqa: N805 - uvicorn's signature
                super().handle_exit(sig, frame)
                app.streams.close()

        self.config = uvicorn.Config(app, host=host, port=port, lifespan="on", log_level="warning",
                                     access_log=False, timeout_keep_alive=30, backlog=2048,
                                     timeout_graceful_shutdown=5)
        self.server = Server(self.config)

    def run(self, sockets=None) -> None:
        self.server.run(sockets=sockets)

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.config.app.streams.close()


def server(app, host: str, port: int) -> _Server:
    return _Server(app, host, port)


def listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def prefork(workers: int, host: str, port: int, make_app) -> int:
    """Serve with `workers` processes; `make_app()` builds a worker's ASGI app (it opens
    its own database connection). Returns when the workers have ended."""
    sock = listen(host, port)
    children: dict[int, int] = {}
    stopping = False

    def spawn(slot: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 0
            try:
                _Server(make_app(), host, port).run(sockets=[sock])
            except BaseException:  # noqa: BLE001 - a worker's death is logged, the parent restarts it
                log.exception("API worker %d stopped", slot)
                code = 1
            os._exit(code)
        children[pid] = slot

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for slot in range(workers):
        spawn(slot)
    log.info("API served by %d worker processes", workers)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        slot = children.pop(pid, None)
        if slot is not None and not stopping:
            log.warning("API worker %d (pid %d) ended with %s; starting another", slot, pid, status)
            time.sleep(0.5)
            spawn(slot)
    sock.close()
    return 0

"""Reading server-sent events in tests: a real uvicorn server on the platform's ASGI app
in a thread, and a small parser of event-stream text."""
from __future__ import annotations

import json
import threading

from support.common import free_port, wait_for


class ThreadServer:
    """`api.http.asgi` served by uvicorn in a thread of the test process (as `bdp api`)."""

    def __init__(self, platform, threads: int = 8):
        from api.cli import serving
        from api.http.asgi import create_asgi
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_asgi(platform, threads)
        self.server = serving.server(self.app, "127.0.0.1", self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ThreadServer":
        import httpx
        self.thread.start()

        def up():
            try:
                return httpx.get(self.url + "/bigdata/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(up, 30, message="the API in a thread")
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()
        self.thread.join(15)


def events(lines, count: int) -> list[dict]:
    """The next `count` events of an event stream (its lines), as {"id", **data}."""
    out, current = [], {}
    for line in lines:
        if line.startswith("id:"):
            current["id"] = int(line[3:].strip())
        elif line.startswith("data:"):
            current.update(json.loads(line[5:].strip()))
        elif line == "" and "id" in current:
            out.append(current)
            current = {}
            if len(out) == count:
                return out
    return out

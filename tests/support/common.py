"""Small helpers every test module uses: the checkout, the admin token of test
platforms, free ports, bounded waits."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "test-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def wait_status(http, path: str, statuses: set[str], timeout: float = 600) -> dict:
    """Poll a cluster through the API until its status is in `statuses`; a cluster that
    fails on the way fails the test with its reason and its last events (what each
    component did before: all a CI log keeps of a server)."""
    def reached():
        view = http.get(path).json()
        if view["status"] == "failed" and "failed" not in statuses:
            events = http.get(f"{path}/events", params={"limit": 1000}).json().get("events", [])
            told = "\n".join(f"  {e['time']} {e['component']}: {e['message']}" for e in events[-30:])
            pytest.fail(f"cluster failed: {view.get('reason')}\nits last events:\n{told}")
        return view if view["status"] in statuses else None
    return wait_for(reached, timeout, interval=0.5, message=f"{path} to reach {statuses}")


def exec_in(docker_client, container_id: str, command) -> tuple[int, str]:
    """Run a command in a container, as the Docker SDK does: (exit code, output)."""
    code, out = docker_client.containers.get(container_id).exec_run(command)
    return code, out.decode(errors="replace")

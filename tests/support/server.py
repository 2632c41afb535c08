"""A real `bdp server` in a subprocess, and removing what a test platform left on the
Docker Engine (selected by the platform's own label, never by name or dn)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.common import ADMIN_TOKEN, REPO, free_port, wait_for


class ServerProcess:
    """A real `bdp server` in a subprocess, which tests may kill -9 and restart."""

    def __init__(self, data_dir: Path, extra_args=(), env=None, host: str = "127.0.0.1"):
        self.data_dir = data_dir
        self.host = host  # another local address: a test namespace's way in (support/laptop.py)
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.extra_args = list(extra_args)
        self.env = {**os.environ, "BDP_ADMIN_TOKEN": ADMIN_TOKEN, "BDP_DATA_DIR": str(data_dir),
                    **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60) -> "ServerProcess":
        import httpx
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "server", "--host", self.host,
             "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)

        def healthy():
            if self.proc.poll() is not None:
                pytest.fail(f"bdp server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                return httpx.get(self.url + "/bigdata/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False
        wait_for(healthy, timeout, message="bdp server health")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def http(self, token: str = ADMIN_TOKEN):
        import httpx
        return httpx.Client(base_url=self.url + "/bigdata/api/v1",
                            headers={"x-auth-token": token}, timeout=30)


def remove_platform_containers(docker_client, data_dir: Path) -> None:
    """Remove every container a test platform started (found by its labels)."""
    from api.engines.base import LABEL_PLATFORM
    for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PLATFORM}={data_dir}"}):
        c.remove(force=True)
    # The framework creates the platform's docker networks (bdp-<name>-<hash>) eagerly.
    for net in docker_client.networks.list(filters={"label": f"{LABEL_PLATFORM}={data_dir}"}):
        net.remove()

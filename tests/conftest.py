"""Shared fixtures: a platform on a temporary data directory, an API client, a real
`bdp server` process, a throwaway PostgreSQL, and the real Docker Engine.

Area-specific fixtures live in the test modules that use them.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
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
    fails on the way fails the test with its reason."""
    def reached():
        view = http.get(path).json()
        if view["status"] == "failed" and "failed" not in statuses:
            pytest.fail(f"cluster failed: {view.get('reason')}")
        return view if view["status"] in statuses else None
    return wait_for(reached, timeout, interval=0.5, message=f"{path} to reach {statuses}")


def exec_in(docker_client, container_id: str, command) -> tuple[int, str]:
    """Run a command in a container, as the Docker SDK does: (exit code, output)."""
    code, out = docker_client.containers.get(container_id).exec_run(command)
    return code, out.decode(errors="replace")


@pytest.fixture
def settings(tmp_path):
    from api.core.config import Settings
    return Settings(data_dir=tmp_path / "data", admin_token=ADMIN_TOKEN)


@pytest.fixture
def platform(settings):
    from api.platform import Platform
    p = Platform(settings)
    yield p
    p.database.close()


@pytest.fixture
def client(platform):
    """A falcon test client on the app, with the admin's token by default."""
    from falcon import testing
    from api.http.app import create_app
    return testing.TestClient(create_app(platform), headers={"x-auth-token": ADMIN_TOKEN})


@pytest.fixture(scope="session")
def docker_client():
    import docker
    client = docker.from_env(timeout=300)
    client.ping()
    return client


class ServerProcess:
    """A real `bdp server` in a subprocess, which tests may kill -9 and restart."""

    def __init__(self, data_dir: Path, extra_args=(), env=None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
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
            [sys.executable, "-m", "api.cli", "server", "--host", "127.0.0.1",
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


@pytest.fixture
def server_factory(tmp_path, docker_client):
    """Start real servers; every one is stopped and its containers removed afterwards."""
    started: list[ServerProcess] = []

    def make(data_dir: Path | None = None, extra_args=(), env=None) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", extra_args, env)
        started.append(server)
        return server
    yield make
    for server in started:
        server.stop()
    for server in started:
        remove_platform_containers(docker_client, server.data_dir)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) for the session."""
    bindir = Path("/usr/lib/postgresql/15/bin")
    if not (bindir / "initdb").exists():
        pytest.fail("PostgreSQL 15 server binaries are missing: run `make test`, which installs them")
    # Not under pytest's basetemp: its directories are 0700 root, so the postgres user
    # could not reach a data directory inside them.
    import tempfile
    base = Path(tempfile.mkdtemp(prefix="bdp-test-pg-"))
    datadir = base / "data"
    port = free_port()
    user = "postgres"
    shutil.chown(base, user)
    as_pg = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(datadir), "-U", "bdp", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(base / "log"), "-w",
                    "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "bdp", "bdp"],
                   check=True, capture_output=True)
    yield f"postgresql://bdp@127.0.0.1:{port}/bdp"
    subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "stop"],
                   capture_output=True)
    shutil.rmtree(base, ignore_errors=True)

"""The split control plane: `bdp api`, `bdp framework` and `bdp orchestrator` as three
processes sharing one PostgreSQL and one data directory. A cluster launched through the
API is placed by one process and configured by another; with the framework killed, a
DELETE waits in `destroying` until a framework runs again."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from support.common import ADMIN_TOKEN, REPO, free_port, wait_for, wait_status
from support.server import remove_platform_containers

API = "/bigdata/api/v1"
FAST = {"BDP_POLL_INTERVAL": "0.5", "BDP_LEASE_SECONDS": "6", "BDP_READY_TIMEOUT": "60",
        "BDP_START_TIMEOUT": "60"}


class Component:
    """One `python -m api.cli <command>` subprocess, in a session of its own so a kill -9
    reaches whatever it started too."""

    def __init__(self, command: str, data_dir: Path, env: dict, args=()):
        self.command = command
        self.data_dir = data_dir
        self.env = env
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{command}-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> "Component":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "api.cli", self.command, "--data-dir", str(self.data_dir), *self.args],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 30) -> None:
        def seen():
            if not self.alive():
                pytest.fail(f"bdp {self.command} exited with {self.proc.returncode}:\n{self.log()}")
            return text in self.log()
        wait_for(seen, timeout, message=f"bdp {self.command} to log {text!r}")

    def kill9(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def split_database(postgres_url):
    """A database of its own in the session's PostgreSQL: the session's `bdp` database
    holds other tests' clusters, which our framework would otherwise go and schedule."""
    import psycopg2
    name = f"bdp_split_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


@pytest.fixture
def control_plane(tmp_path, split_database, docker_client):
    """A factory of components on one data directory; all stopped and their containers and
    networks removed afterwards, whatever the test did."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {**os.environ, **FAST, "BDP_DATABASE_URL": split_database, "BDP_DATA_DIR": str(data_dir),
           "BDP_ADMIN_TOKEN": ADMIN_TOKEN}
    started: list[Component] = []

    def make(command: str, args=()) -> Component:
        component = Component(command, data_dir, env, args)
        started.append(component)
        return component.start()
    make.data_dir = data_dir
    yield make
    for component in started:
        component.stop()
    remove_platform_containers(docker_client, data_dir)



def node_containers(docker_client, data_dir: Path, dn: str):
    from api.engines.base import LABEL_DN, LABEL_PLATFORM
    return docker_client.containers.list(all=True, filters={"label": [
        f"{LABEL_PLATFORM}={data_dir}", f"{LABEL_DN}={dn}"]})


def test_api_framework_orchestrator_apart_on_postgres(control_plane, docker_client):
    import httpx
    port = free_port()
    api = control_plane("api", ["--host", "127.0.0.1", "--port", str(port)])
    api.wait_log("API listening")
    # The framework and orchestrator start after the API so that one process, not three
    # at once, creates the schema in the fresh database.
    framework = control_plane("framework")
    orchestrator = control_plane("orchestrator")
    framework.wait_log("framework running")
    orchestrator.wait_log("orchestrator running")
    assert "framework running" not in api.log() and "orchestrator running" not in api.log()

    with httpx.Client(base_url=f"http://127.0.0.1:{port}{API}", headers={"x-auth-token": ADMIN_TOKEN},
                      timeout=30) as http:
        # The API process loaded the bundled products into PostgreSQL at its start.
        assert "reference" in http.get("/products").json()["products"]
        assert http.get("/products/reference/1.0.0").status_code == 200

        r = http.post("/products/reference/1.0.0", json={"size": 2})
        assert r.status_code == 202, r.text
        path = r.json()["cluster"].split(API, 1)[1]
        view = wait_status(http, path, {"ready"}, timeout=75)
        dn = view["dn"]

        # Each controller, in its own process, wrote its part of the story.
        events = http.get(path + "/events").json()["events"]
        components = {e["component"] for e in events}
        assert {"framework", "orchestrator"} <= components, events
        assert len(node_containers(docker_client, control_plane.data_dir, dn)) == 2

        # No framework: a DELETE is recorded and then nothing removes the nodes.
        framework.kill9()
        r = http.delete(path)
        assert r.status_code == 202, r.text
        time.sleep(4)  # eight of the framework's polls, had one been running
        assert http.get(path).json()["status"] == "destroying"
        assert len(node_containers(docker_client, control_plane.data_dir, dn)) == 2
        assert orchestrator.alive()

        # A framework again: it finds the pending destroy in the registry and finishes it.
        control_plane("framework")
        wait_status(http, path, {"destroyed"}, timeout=40)
        assert node_containers(docker_client, control_plane.data_dir, dn) == []
        events = http.get(path + "/events").json()["events"]
        assert any(e["component"] == "framework" and "containers removed" in e["message"] for e in events), events


def test_components_started_together_migrate_an_empty_database_once(split_database):
    """Three processes opening an empty PostgreSQL at the same moment all come up on one
    schema (an advisory lock lets one migrate while the others wait)."""
    code = ("import sys; from api.core.db import open_database; from api.core.migrations import SchemaVersion; "
            "db = open_database(sys.argv[1]); "
            "SchemaVersion.bind(db); print(SchemaVersion.select().count())")
    procs = [subprocess.Popen([sys.executable, "-c", code, split_database], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert [out.strip() for out, _ in results] == ["1", "1", "1"]

"""Shared fixtures: a platform on a temporary data directory, an API client, a real
`bdp server` process, a throwaway PostgreSQL, and the real Docker Engine.

Tests that reach the Docker Engine carry the `docker` marker: those using a fixture
that needs it are marked here, modules that use Docker otherwise say so with
`pytestmark`. A test without the marker gets a Docker client that cannot connect, so a
missing marker fails loudly instead of slipping into the unit run.

Area-specific fixtures live in the test modules that use them; plain helpers in
tests/support/.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Every answer is checked against its response model in tests (api/http/openapi.py);
# servers the tests start inherit it.
os.environ.setdefault("BDP_CHECK_RESPONSES", "1")

from support.common import ADMIN_TOKEN, REPO, exec_in, free_port, wait_for, wait_status  # noqa: F401
from support.server import ServerProcess, remove_platform_containers  # noqa: F401
from support.testhosts import TestHosts

DOCKER_FIXTURES = {"docker_client", "server_factory", "testhosts", "bystander"}
# `make test` runs the suite on several pytest-xdist workers (--dist loadgroup). Tests that
# share a costly session fixture run on one worker, so it is made once: the bystander
# platform with its live Slurm cluster; molecule scenarios share their instances' names;
# the three namespace hosts (testhosts), with the tests that build hosts of their own,
# whose `up` would otherwise race theirs for the same free /24.
XDIST_GROUPS = {"bystander": "products", "testhosts": "multihost"}
XDIST_MODULES = {"test_orchestrator_molecule": "molecule", "test_testhosts": "multihost",
                 "test_hosts": "multihost"}


NO_DOCKER = "unix:///nonexistent/unit-tests-have-no-docker.sock"


def pytest_configure(config):
    # The unit run: no test may reach Docker, whatever the scope of its fixtures.
    if "not docker" in (config.option.markexpr or ""):
        os.environ["DOCKER_HOST"] = NO_DOCKER


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if DOCKER_FIXTURES & names:
            item.add_marker(pytest.mark.docker)
        group = XDIST_MODULES.get(item.path.stem)
        group = next((g for f, g in XDIST_GROUPS.items() if f in names), group)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _docker_only_when_marked(request, monkeypatch):
    if request.node.get_closest_marker("docker") is None:
        monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)


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


@pytest.fixture
def three_hosts(platform):
    """Three registered hosts in the registry only (no engine behind them), 4 cpus, 8 GB
    and 4 disks each: placement and views across hosts without Docker."""
    from api.core.models import Disk, Host
    made = []
    for name in ("node-a", "node-b", "node-c"):
        host = Host.create(name=name, url=f"tcp://192.0.2.{len(made) + 11}:2375", cpus=4, mem=8192)
        for d in range(4):
            Disk.create(host=host, name=f"d{d}", path=f"/srv/{name}/d{d}")
        made.append(host)
    return made


@pytest.fixture(scope="session")
def docker_client():
    import docker
    client = docker.from_env(timeout=300)
    client.ping()
    return client


@pytest.fixture
def server_factory(tmp_path, docker_client):
    """Start real servers; every one is stopped and its containers removed afterwards."""
    started: list[ServerProcess] = []

    def make(data_dir: Path | None = None, extra_args=(), env=None, host: str = "127.0.0.1") -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", extra_args, env, host)
        started.append(server)
        return server
    yield make
    for server in started:
        server.stop()
    for server in started:
        remove_platform_containers(docker_client, server.data_dir)


@pytest.fixture(scope="session")
def testhosts():
    """Three real Docker hosts for the session (scripts/testhosts.sh): network namespaces
    with their own dockerd on one L2 segment. Torn down at the end, even after failures,
    leaving no namespace, daemon, mount or cgroup."""
    # One set per pytest-xdist worker, should the suite run on several: their own names.
    hosts = TestHosts(prefix="bdpth" + os.environ.get("PYTEST_XDIST_WORKER", "").replace("gw", "w"))
    try:
        hosts.up(3)
        yield hosts
    finally:
        hosts.down()


@pytest.fixture(scope="session")
def bystander(docker_client, tmp_path_factory):
    """A second platform with a live cluster of the same dn as one the product tests
    launch; afterwards its containers and networks must be untouched (issue: `make test`
    beside `make run`)."""
    from support.bystander import Bystander
    other = Bystander(docker_client, tmp_path_factory.mktemp("bystander") / "data").start()
    yield other
    try:
        other.check()
    finally:
        other.stop()


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


@pytest.fixture
def pg_database(postgres_url):
    """A database of its own in the session's PostgreSQL (dropped afterwards): the
    session's `bdp` database holds other tests' rows."""
    import uuid

    import psycopg2
    name = f"bdp_t_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(postgres_url)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


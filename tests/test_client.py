"""The `bdp` client commands, run as a user runs them, against a real `bdp server`."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from support.common import ADMIN_TOKEN, REPO

pytestmark = pytest.mark.timeout(900)


def bdp(env: dict, *args, timeout: float = 600, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def bdp_into_closed_pipe(env: dict, *args, timeout: float = 120) -> subprocess.CompletedProcess:
    """`bdp ARGS | head` with a reader that leaves at once: closed before bdp writes, so every
    write fails however short the output (a reader of a line would often find it all sent)."""
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)


def assert_quiet_broken_pipe(r: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr, r.stderr
    assert r.stderr == "" and r.returncode == 141  # 128 + SIGPIPE, as a shell reports `cat`


@pytest.fixture
def server(server_factory):
    return server_factory().start()


@pytest.fixture
def cli_env(tmp_path, server):
    """A user's shell: no config file yet, nothing from the developer's own home."""
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDP_")}
    env.update(HOME=str(home), BDP_CONFIG=str(home / ".config/bdp/config.json"),
               BDP_URL=server.url, BDP_TOKEN=ADMIN_TOKEN)
    return env


def new_user(server, name: str) -> str:
    with server.http() as http:
        assert http.post("/users", json={"name": name}).status_code == 201
        r = http.post(f"/users/{name}/tokens", json={"name": "test"})
        assert r.status_code == 201, r.text
        return r.json()["token"]


def test_catalog_login_and_refused_launches(server, cli_env):
    # The catalog as a table, and one product's options grouped with their descriptions.
    r = bdp(cli_env, "products", "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["PRODUCT", "VERSION", "DESCRIPTION"]
    assert any(line.split()[:2] == ["reference", "1.0.0"] and "Reference product: minimal" in line
               for line in r.stdout.splitlines())

    r = bdp(cli_env, "products", "show", "reference")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("Required options") < out.index("Optional options") < out.index("Advanced options")
    assert "size" in out and "Number of nodes" in out
    assert "Memory per node (MB)" in out and "configured-by-bdp" in out
    assert "bdp launch reference 1.0.0 -o size=2" in out

    shown = json.loads(bdp(cli_env, "products", "show", "reference", "1.0.0", "--json").stdout)
    assert shown["options"]["required"] == {"size": 2}
    # `bdp products show reference | head` ends quietly, not with a traceback.
    assert_quiet_broken_pipe(bdp_into_closed_pipe(cli_env, "products", "show", "reference"))

    # A wrong value and an unknown option: one clear line naming the option, exit 1.
    r = bdp(cli_env, "launch", "reference", "1.0.0", "-o", "size=two")
    assert r.returncode == 1
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error: 400") and "size" in r.stderr and "two" in r.stderr
    r = bdp(cli_env, "launch", "reference", "1.0.0", "-o", "size=2", "-o", "colour=blue")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1
    assert "colour" in r.stderr
    r = bdp(cli_env, "launch", "nosuch", "1.0", "-o", "size=2")
    assert r.returncode == 1 and r.stderr.startswith("error: 404")

    # `bdp login` keeps URL and token in a 0600 file; later commands need no environment.
    token = new_user(server, "carol")
    env = {k: v for k, v in cli_env.items() if k not in ("BDP_URL", "BDP_TOKEN")}
    r = bdp(env, "login", "--url", server.url, "--token", token)
    assert r.returncode == 0, r.stderr
    assert "as carol" in r.stdout
    config = cli_env["BDP_CONFIG"]
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert json.loads(open(config).read()) == {"url": server.url, "token": token}
    r = bdp(env, "clusters", "list")
    assert r.returncode == 0 and "No clusters" in r.stdout

    # A wrong token is refused before anything is saved; a stale one fails in one line.
    r = bdp(env, "login", "--url", server.url, "--token", "not-a-token")
    assert r.returncode == 1 and r.stderr.startswith("error: 401")
    assert json.loads(open(config).read())["token"] == token
    r = bdp({**env, "BDP_TOKEN": "not-a-token"}, "products", "list")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "401" in r.stderr

    # Nothing listens here: still one line, not a traceback.
    r = bdp({**env, "BDP_URL": "http://127.0.0.1:9"}, "products", "list")
    assert r.returncode == 1 and r.stderr.startswith("error: cannot reach the API")


def test_launch_watch_ssh_and_destroy(server, cli_env, tmp_path, docker_client):
    token = new_user(server, "alice")
    env = {**cli_env, "BDP_TOKEN": token}
    key = tmp_path / "id_alice"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f", str(key)],
                   check=True)
    r = bdp(env, "keys", "add", f"{key}.pub")
    assert r.returncode == 0 and "Added 1 key" in r.stdout, r.stderr
    assert "alice@test" in bdp(env, "keys", "list").stdout

    # --wait prints each status as it is reached, then the nodes and their addresses.
    r = bdp(env, "launch", "reference", "1.0.0", "-o", "size=2", "--wait", timeout=700)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{server.log()}"
    lines = r.stdout.splitlines()
    assert lines[0] == "Launched cluster alice/reference/1.0.0/1 (status registered)"
    seen = [line.split()[1] for line in lines if line[:2].isdigit() and ":" in line[:8]]
    expected = ["scheduling", "scheduled", "configuring", "configured", "ready"]
    assert [s for s in seen if s in expected] == [s for s in expected if s in seen]
    assert seen[-1] == "ready" and "scheduling" in seen and "configuring" in seen
    assert "Cluster alice/reference/1.0.0/1 is ready." in r.stdout
    nodes = {line.split()[0]: line for line in lines if line.startswith("node")}
    assert set(nodes) == {"node1", "node2"}
    assert all("running" in line and "eth0=10." in line and "eth1=10." in line for line in nodes.values())

    r = bdp(env, "clusters", "list")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].split()[:4] == ["CLUSTER", "STATUS", "HEALTH", "PROGRESS"]
    assert any(line.split()[:4] == ["alice/reference/1.0.0/1", "ready", "healthy", "100%"]
               for line in r.stdout.splitlines())
    listed = json.loads(bdp(env, "clusters", "list", "--json").stdout)
    assert [c["status"] for c in listed] == ["ready"]

    r = bdp(env, "clusters", "show", "reference/1.0.0/1")  # the caller's own, without user
    assert r.returncode == 0 and "status:   ready" in r.stdout and "node2" in r.stdout
    nodes_json = json.loads(bdp(env, "clusters", "nodes", "reference/1.0.0/1", "--json").stdout)
    assert {n["name"] for n in nodes_json} == {"node1", "node2"}
    r = bdp(env, "clusters", "services", "alice/reference/1.0.0/1")
    assert "marker" in r.stdout and "node1,node2" in r.stdout
    r = bdp(env, "clusters", "events", "reference/1.0.0/1")
    assert "registered" in r.stdout and "ready" in r.stdout and "orchestrator" in r.stdout
    r = bdp(env, "clusters", "logs", "reference/1.0.0/1")
    assert r.returncode == 0 and "=== start" in r.stdout and "PLAY" in r.stdout
    assert_quiet_broken_pipe(bdp_into_closed_pipe(env, "clusters", "logs", "reference/1.0.0/1"))

    # SSH with the user's own key into the node's eth0 address.
    r = bdp(env, "ssh", "reference/1.0.0/1", "node1", "-i", str(key), "--", "cat", "/etc/bdp-marker",
            timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "configured-by-bdp"
    r = bdp(env, "ssh", "reference/1.0.0/1", "node9")
    assert r.returncode == 1 and "no node 'node9'" in r.stderr and "node1" in r.stderr

    # Actions wait for the playbook and print its result: stop, a failing check, start.
    r = bdp(env, "clusters", "action", "reference/1.0.0/1", "stop", timeout=300)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    assert "result:  ok" in r.stdout and "status:  stopped" in r.stdout
    r = bdp(env, "clusters", "show", "reference/1.0.0/1")
    assert "status:   stopped" in r.stdout
    r = bdp(env, "clusters", "action", "reference/1.0.0/1", "status", timeout=300)
    assert r.returncode == 1, f"{r.stdout}\n{r.stderr}"
    assert "result:  failed" in r.stdout and "status:  stopped" in r.stdout
    assert "reason:" in r.stdout and "not running" in r.stdout
    r = bdp(env, "clusters", "action", "reference/1.0.0/1", "start", "--json", timeout=300)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}"
    started = json.loads(r.stdout)
    assert started["action"] == "start" and started["result"] == "successful" and started["status"] == "ready"
    r = bdp(env, "clusters", "action", "reference/1.0.0/1", "status", timeout=300)
    assert r.returncode == 0 and "result:  ok" in r.stdout and "status:  ready" in r.stdout
    assert "=== stop" in bdp(env, "clusters", "logs", "reference/1.0.0/1").stdout

    # Another user's clusters are refused in one line.
    mallory = {**cli_env, "BDP_TOKEN": new_user(server, "mallory")}
    r = bdp(mallory, "clusters", "action", "alice/reference/1.0.0/1", "stop")
    assert r.returncode == 1 and r.stderr.startswith("error: 403")
    r = bdp(mallory, "clusters", "show", "alice/reference/1.0.0/1")
    assert r.returncode == 1 and r.stderr.startswith("error: 403")
    r = bdp(mallory, "destroy", "alice/reference/1.0.0/1")
    assert r.returncode == 1 and r.stderr.startswith("error: 403")

    r = bdp(env, "destroy", "reference/1.0.0/1", "--wait", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "Destroying cluster alice/reference/1.0.0/1" in r.stdout and "destroyed" in r.stdout
    from api.engines.base import LABEL_PLATFORM
    left = docker_client.containers.list(all=True, filters={"label": f"{LABEL_PLATFORM}={server.data_dir}"})
    assert left == []
    r = bdp(env, "clusters", "list")
    assert "No clusters" in r.stdout
    assert "destroyed" in bdp(env, "clusters", "list", "--all").stdout

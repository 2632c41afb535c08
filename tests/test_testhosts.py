"""scripts/testhosts.sh: N real Docker hosts on one machine, and a teardown that leaves
nothing behind (namespace, daemon, mount, cgroup, link)."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from support.testhosts import TestHosts

pytestmark = pytest.mark.docker

PREFIX = "bdptt"  # not the session fixture's hosts: this test tears its own down


def _in_ns(ns: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", f"--net=/run/netns/{ns}", "bash", "-c", command],
                          capture_output=True, text=True, timeout=20)


def _leftovers(state: Path) -> list[str]:
    found = []
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [f"namespace {line.split()[0]}" for line in namespaces.splitlines()
              if line.startswith(PREFIX)]
    found += [f"mount {line.split()[1]}" for line in Path("/proc/self/mounts").read_text().splitlines()
              if line.split()[1].startswith(str(state))]
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/{PREFIX}-h*")]
    found += [f"process {line}" for line in subprocess.run(
        ["pgrep", "-af", f"dockerd .*{state}"], capture_output=True, text=True).stdout.splitlines()]
    if subprocess.run(["ip", "link", "show", f"{PREFIX}-root"], capture_output=True).returncode == 0:
        found.append(f"link {PREFIX}-root")
    if state.exists():
        found.append(f"directory {state}")
    return found


def test_up_builds_distinct_daemons_on_one_segment_and_down_leaves_nothing():
    # Short: containerd's socket paths under the state directory stop at 104 bytes.
    state = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-", dir="/var/tmp"))
    hosts = TestHosts(PREFIX, state)
    try:
        first = hosts.up(2)
        assert [h.name for h in first] == [f"{PREFIX}-h1", f"{PREFIX}-h2"]
        infos = [h.client(timeout=10).info() for h in first]
        # Two daemons of their own, each with its hostname and its own data root.
        assert [i["Name"] for i in infos] == [h.name for h in first]
        assert len({i["ID"] for i in infos}) == 2
        assert all(str(state) in i["DockerRootDir"] for i in infos)
        import docker
        for h in first:  # the root namespace reaches each daemon over the segment
            assert docker.DockerClient(base_url=h.url, timeout=10).ping()
        # Host to host on the one L2 segment; no default route (lookups fail at once).
        reach = _in_ns(first[0].name, f"echo > /dev/tcp/{first[1].address}/2375")
        assert reach.returncode == 0, reach.stderr
        assert "default" not in _in_ns(first[0].name, "ip route").stdout
        # A partitioned host is unreachable, and reachable again once healed.
        hosts.partition(first[1])
        assert _in_ns(first[0].name, f"timeout 2 bash -c 'echo > /dev/tcp/{first[1].address}/2375'").returncode != 0
        # `up` again is idempotent: same daemons, and it heals a partitioned host.
        pid = (state / "h1" / "docker.pid").read_text()
        again = hosts.up(2)
        assert again == first and (state / "h1" / "docker.pid").read_text() == pid
        assert _in_ns(first[0].name, f"echo > /dev/tcp/{first[1].address}/2375").returncode == 0
    finally:
        hosts.down()
    assert _leftovers(state) == []

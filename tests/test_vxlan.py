"""The VXLAN device script a host's network agent runs, in a network namespace of the
test's own (no Docker): it makes the device, gives it every peer's flood entry, drops
peers that left, and may run twice or race with itself."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from api.engines import vxlan


@pytest.fixture
def netns():
    name = f"bdpvxt-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    # No dummy devices in this kernel: a veth pair, both ends inside.
    subprocess.run(["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0"],
                   check=True)
    subprocess.run(["ip", "-n", name, "addr", "add", "192.0.2.11/24", "dev", "eth0"], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "eth0", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "delete", name], check=True)


def run(ns: str, script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], capture_output=True,
                          text=True, timeout=30)


def flood(ns: str, vni: int) -> list[str]:
    out = run(ns, f"bridge fdb show dev {vxlan.device(vni)}").stdout
    return sorted(line.split()[2] for line in out.splitlines() if line.startswith("00:00:00:00:00:00"))


def test_the_host_script_converges_the_device_and_its_peers(netns):
    script = vxlan.host_script(4097, "192.0.2.11", ["192.0.2.11", "192.0.2.12", "192.0.2.1"])
    for _ in range(2):  # idempotent
        done = run(netns, script)
        assert done.returncode == 0, done.stderr
    link = run(netns, "ip -d -o link show bdpvx4097").stdout
    assert "vxlan id 4097 local 192.0.2.11" in link and "mtu 1450" in link and "dstport 4789" in link
    assert flood(netns, 4097) == ["192.0.2.1", "192.0.2.12"]  # not itself
    # A peer left the segment, another joined.
    assert run(netns, vxlan.host_script(4097, "192.0.2.11", ["192.0.2.1", "192.0.2.13"])).returncode == 0
    assert flood(netns, 4097) == ["192.0.2.1", "192.0.2.13"]
    assert vxlan.vnis_in(run(netns, "ip -o link show type vxlan").stdout) == {4097}
    assert run(netns, vxlan.remove_script([4097, 4098])).returncode == 0
    assert vxlan.vnis_in(run(netns, "ip -o link show type vxlan").stdout) == set()


def test_two_agents_at_once_both_succeed(netns):
    script = vxlan.host_script(4099, "192.0.2.11", ["192.0.2.12"])
    procs = [subprocess.Popen(["ip", "netns", "exec", netns, "sh", "-c", script],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    assert [p.wait(30) for p in procs] == [0, 0, 0, 0]
    assert flood(netns, 4099) == ["192.0.2.12"]

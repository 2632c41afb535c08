"""A stand-in for a user's laptop (issue 14): a network namespace joined to the platform
host by one veth pair, with no route beyond it and its own firewall letting out only TCP
to the API's port. Whatever a test does from it reaches the clusters only through the API.

Needs root (ip netns, iptables inside the namespace only: the host's rules are untouched).
"""
from __future__ import annotations

import os
import subprocess
import sys

from support.common import REPO


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


class Laptop:
    def __init__(self):
        n = os.getpid() % 200 + 10  # one per test process: names and a /30 of their own
        worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
        n = (n + 7 * int(worker or 0)) % 240 + 10
        self.ns, self.host_if, self.ns_if = f"bdplap{n}", f"bdplh{n}", f"bdpll{n}"
        self.host_address, self.address = f"10.231.{n}.1", f"10.231.{n}.2"

    def up(self) -> "Laptop":
        self.down()  # a namespace a killed run left behind
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        _ip("link", "set", self.ns_if, "netns", self.ns)
        _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_if)
        _ip("link", "set", self.host_if, "up")
        _ip("-n", self.ns, "addr", "add", f"{self.address}/30", "dev", self.ns_if)
        _ip("-n", self.ns, "link", "set", self.ns_if, "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")
        return self

    def only_port(self, port: int) -> None:
        """Out of the laptop: TCP to the API's port, and nothing else."""
        for rule in (["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"],
                     ["-A", "OUTPUT", "-o", self.ns_if, "-d", self.host_address, "-p", "tcp",
                      "--dport", str(port), "-j", "ACCEPT"],
                     ["-A", "OUTPUT", "-j", "DROP"]):
            subprocess.run(["ip", "netns", "exec", self.ns, "iptables", *rule], check=True, timeout=30)

    def run(self, argv: list[str], env: dict, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout, **kw)

    def bdp(self, env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run([sys.executable, "-m", "api.cli", *args], env, timeout)

    def popen(self, argv: list[str], env: dict) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns, *argv], env=env, cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def down(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=30)

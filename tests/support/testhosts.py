"""Several real Docker hosts on this machine (scripts/testhosts.sh): each a network
namespace with its own dockerd, all on one L2 segment the root namespace joins.

`TestHosts.up(n)` builds them, `down()` removes them and everything they left. A test
partitions a host for real with `partition(host)` (its eth0 goes down inside its
namespace) and heals it with `heal(host)`.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.common import REPO

SCRIPT = REPO / "scripts" / "testhosts.sh"


@dataclass
class TestHost:
    name: str  # also its namespace and its daemon's hostname
    address: str  # on the shared segment
    url: str  # tcp://address:2375 (plain TCP: a test network only)
    socket: str  # unix:// path of its daemon, from the root namespace

    def client(self, timeout: float = 60):
        import docker
        return docker.DockerClient(base_url=self.socket, timeout=timeout)


class TestHosts:
    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, prefix: str = "bdpth", state_dir: Path | None = None, tls: bool = False):
        self.prefix = prefix
        self.env = {**os.environ, "BDP_TESTHOSTS_PREFIX": prefix}
        if state_dir is not None:
            self.env["BDP_TESTHOSTS_DIR"] = str(state_dir)
        if tls:  # daemons on tcp://ADDR:2376 that verify clients (certificates in tls/)
            self.env["BDP_TESTHOSTS_TLS"] = "1"
        self.tls_dir = (state_dir or Path(f"/var/tmp/bdp-testhosts-{prefix}")) / "tls"
        self.hosts: list[TestHost] = []

    def _run(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(["bash", str(SCRIPT), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"testhosts.sh {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def up(self, count: int) -> list[TestHost]:
        self.hosts = []
        for line in self._run("up", str(count)).splitlines():
            name, address, url, sock, state = line.split()
            assert state == "up", line
            self.hosts.append(TestHost(name, address, url, sock))
        return self.hosts

    def down(self) -> None:
        self._run("down")
        self.hosts = []

    def diagnose(self) -> str:
        """What a failed registration needs explained: each daemon's log tail, the root
        namespace's neighbours on the segment and how long `docker info` takes now."""
        import time
        state_dir = self.tls_dir.parent
        lines = []
        for i, host in enumerate(self.hosts, start=1):
            for where in (host.socket, host.url):  # the socket, and the segment as the platform
                started = time.monotonic()
                done = subprocess.run(["timeout", "15", "docker", "-H", where, "info", "--format",
                                       "{{.ContainersRunning}} running"],
                                      capture_output=True, text=True)
                lines.append(f"{host.name}: docker -H {where} info: {time.monotonic() - started:.1f}s"
                             f" rc={done.returncode} {done.stdout.strip()}{done.stderr.strip()[-200:]}")
            log = state_dir / f"h{i}.log"
            if log.exists():
                lines += ["  " + line for line in log.read_text(errors="replace").splitlines()[-8:]]
        neigh = subprocess.run(["ip", "neigh", "show", "dev", f"{self.prefix}-root"],
                               capture_output=True, text=True)
        return "\n".join(lines + ["neighbours: " + " | ".join(neigh.stdout.splitlines())])

    @property
    def gateway(self) -> str:
        """The root namespace's address on the segment (the platform's side)."""
        return self.hosts[0].address.rsplit(".", 1)[0] + ".1"

    def link(self, host: TestHost, state: str) -> None:
        subprocess.run(["ip", "-n", host.name, "link", "set", "eth0", state], check=True,
                       capture_output=True)

    def partition(self, host: TestHost) -> None:
        """A real host loss: the host's only link goes down (its containers keep running)."""
        self.link(host, "down")

    def heal(self, host: TestHost) -> None:
        self.link(host, "up")

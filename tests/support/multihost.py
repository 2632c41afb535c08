"""Helpers for the tests on several hosts: a real `bdp server` with the session's
namespace hosts registered through its REST API, running commands in a node's container
on its own host's daemon, and removing everything a test platform left on the hosts
(selected by the platform's label; VXLAN devices by the platform's own VNI range)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from support.common import wait_for
from support.server import ServerProcess, remove_platform_containers

NAMES = ("node-a", "node-b", "node-c")
# Quick polls keep the tests short. A host is lost 15 s after its last answer (default
# 20 s) so that "lost within 20 s of the partition" holds whatever the probe's phase.
# Pools far from 10.30.0.0/24 upwards, where other platforms on this machine (older
# versions, which know nothing of pools) take their /24s.
ENV = {"BDP_POLL_INTERVAL": "0.5", "BDP_LEASE_SECONDS": "10", "BDP_READY_TIMEOUT": "240",
       "BDP_START_TIMEOUT": "120", "BDP_SCHEDULING_TIMEOUT": "180",
       "BDP_PROBE_INTERVAL": "2", "BDP_HOST_TIMEOUT": "15",
       "BDP_ADMIN_SUBNET": "10.212.0.0/16", "BDP_STORAGE_SUBNET": "10.213.0.0/16"}


def register(http, testhosts, disk_root: Path, disks: int = 6) -> dict[str, object]:
    """Register the session's hosts as node-a, node-b, node-c, all at once (each gets the
    base image and its disk directories); {name: TestHost}."""
    from concurrent.futures import ThreadPoolExecutor

    def add(name, host):
        paths = [str(disk_root / name / f"d{i}") for i in range(1, disks + 1)]
        r = http.post("/hosts", json={"name": name, "url": host.url, "disks": paths,
                                      "labels": {"rack": name[-1]}}, timeout=300)
        assert r.status_code == 201, f"{r.text}\n{testhosts.diagnose()}"
    with ThreadPoolExecutor(len(NAMES)) as pool:
        list(pool.map(add, NAMES, testhosts.hosts))
    return dict(zip(NAMES, testhosts.hosts))


def start_site(data_dir: Path, testhosts, env=None) -> tuple[ServerProcess, dict]:
    server = ServerProcess(data_dir, env={**ENV, **(env or {})}).start()
    hosts = register(server.http(), testhosts, data_dir.parent / "disks")
    return server, hosts


def container(hosts: dict, view: dict):
    """A node's container, on the daemon of the host the API says it is on."""
    return hosts[view["host"]].client().containers.get(view["id"])


def node_exec(hosts: dict, view: dict, command) -> tuple[int, str]:
    code, out = container(hosts, view).exec_run(command)
    return code, out.decode(errors="replace")


def nodes(http, path: str) -> dict[str, dict]:
    return {n["name"]: n for n in http.get(f"{path}/nodes").json()["nodes"]}


def reachable(hosts: dict, src: dict, address: str, port: int = 22) -> tuple[bool, bool]:
    """(ping answers, TCP port accepts) from inside node `src`'s container."""
    ping, _ = node_exec(hosts, src, ["ping", "-c", "1", "-W", "1", address])
    tcp, _ = node_exec(hosts, src, ["timeout", "3", "bash", "-c", f"echo > /dev/tcp/{address}/{port}"])
    return ping == 0, tcp == 0


def vni_range(data_dir: Path) -> range:
    from api.core.config import Settings
    settings = Settings(data_dir=data_dir)
    return range(settings.vni_base, settings.vni_base + settings.VNI_SPAN)


def local_devices(data_dir: Path) -> list[str]:
    """The platform's VXLAN devices and shims in the root namespace."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    vnis = vni_range(data_dir)
    return [m.group(0) for m in re.finditer(r"bdp(?:vx|s)(\d+)", out) if int(m.group(1)) in vnis]


def host_devices(testhosts, data_dir: Path) -> dict[str, list[str]]:
    vnis = vni_range(data_dir)
    found = {}
    for host in testhosts.hosts:
        out = subprocess.run(["ip", "-n", host.name, "-o", "link"], capture_output=True, text=True).stdout
        found[host.name] = [m.group(0) for m in re.finditer(r"bdpvx(\d+)", out) if int(m.group(1)) in vnis]
    return found


def leftovers(testhosts, data_dir: Path) -> dict:
    """What a platform left on the hosts: containers, docker networks, VXLAN devices."""
    from api.engines.base import LABEL_PLATFORM
    label = {"label": f"{LABEL_PLATFORM}={data_dir}"}
    out = {}
    for host in testhosts.hosts:
        client = host.client()
        # The platform's network agent belongs to the host (it goes with DELETE /hosts).
        things = [c.name for c in client.containers.list(all=True, filters=label)
                  if c.labels.get("org.bdp.helper") != "network agent"]
        things += [n.name for n in client.networks.list(filters=label)]
        if things:
            out[host.name] = things
    for name, devices in host_devices(testhosts, data_dir).items():
        if devices:
            out.setdefault(name, []).extend(devices)
    if local_devices(data_dir):
        out["platform"] = local_devices(data_dir)
    return out


def clean(testhosts, data_dir: Path, docker_client) -> None:
    """Remove whatever a test platform left (after a failure too)."""
    from api.engines.base import LABEL_PLATFORM
    label = {"label": f"{LABEL_PLATFORM}={data_dir}"}
    for host in testhosts.hosts:
        testhosts.heal(host)
        client = host.client()
        for c in client.containers.list(all=True, filters=label):
            c.remove(force=True)
        for n in client.networks.list(filters=label):
            n.remove()
    for name, devices in host_devices(testhosts, data_dir).items():
        for dev in devices:
            subprocess.run(["ip", "-n", name, "link", "del", dev], capture_output=True)
    for dev in sorted(local_devices(data_dir), reverse=True):  # shims (bdps) before devices
        for chain, flag in (("FORWARD", "-i"), ("FORWARD", "-o")):
            subprocess.run(["iptables", "-D", chain, flag, dev, "-j", "DROP"], capture_output=True)
        subprocess.run(["iptables", "-D", "INPUT", "-i", dev, "-m", "conntrack", "!", "--ctstate",
                        "ESTABLISHED,RELATED", "-j", "DROP"], capture_output=True)
        subprocess.run(["ip", "link", "del", dev], capture_output=True)
    remove_platform_containers(docker_client, data_dir)


def wait_nothing_left(testhosts, data_dir: Path, timeout: float = 60) -> None:
    wait_for(lambda: not leftovers(testhosts, data_dir), timeout, interval=1,
             message=f"nothing of the platform left on the hosts ({leftovers(testhosts, data_dir)})")


def reachable_each(hosts: dict, checks: list[tuple[dict, str, int]]) -> list[tuple[bool, bool]]:
    """reachable() for many (src node, address, port) at once: an unreachable address
    costs its timeouts, and there are many to try."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda c: reachable(hosts, c[0], c[1], c[2]), checks))

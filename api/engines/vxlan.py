"""VXLAN segments across hosts: the devices on each host and the platform's own end.

A segment is one VXLAN network identifier (VNI). Every host that holds a node of it has
a VXLAN device ``bdpvx<vni>`` (made through the host's Docker API, by an exec in the
platform's network agent on that host, a container in the host's network namespace:
`host_script`) with head-end replication: one all-zero
FDB entry per other member, so broadcasts (ARP) reach every host of the segment and
nothing else; unicast is learnt. A docker macvlan network over that device gives the
nodes their registry addresses. The platform host has the device too, and a macvlan
shim ``bdps<vni>`` holding the segment's gateway address (macvlan children cannot reach
their parent's own address, and the platform's engine may be a host too): that is how
the orchestrator and `bdp ssh` reach the nodes. Firewall rules on the shim keep the
platform host from becoming a router between segments: nothing is forwarded in or out
of a shim, and a node may not open connections to the platform host.

The kernel here has VXLAN and macvlan but no 802.1q VLAN devices, so segments cannot
be VLAN sub-interfaces. Needs root (CAP_NET_ADMIN) on the platform host.
"""
from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess

PORT = 4789
MTU = 1450  # 1500 less the VXLAN header, so a full frame fits the underlay unfragmented
PREFIX, SHIM = "bdpvx", "bdps"


class VxlanError(RuntimeError):
    pass


def device(vni: int) -> str:
    return f"{PREFIX}{vni}"


def shim(vni: int) -> str:
    return f"{SHIM}{vni}"


def host_script(vni: int, local: str, peers: list[str]) -> str:
    """Idempotent shell for a host's namespace: the device, up, with every peer's
    all-zero FDB entry (and no stale one)."""
    dev = device(vni)
    want = " ".join(shlex.quote(p) for p in sorted(set(peers) - {local}))
    # Another process may do the same at the same moment: an add that fails is fine as
    # long as what it adds is there afterwards.
    zero = "00:00:00:00:00:00"
    return "\n".join([
        "set -e",
        f"ip link show {dev} >/dev/null 2>&1 || ip link add {dev} type vxlan id {vni} "
        f"local {shlex.quote(local)} dstport {PORT} 2>/dev/null || ip link show {dev} >/dev/null",
        f"ip link set {dev} mtu {MTU} up",
        f"want='{want}'",
        f"have=$(bridge fdb show dev {dev} | awk '$1 == \"{zero}\" {{print $3}}' | tr '\\n' ' ')",
        f"for p in $want; do echo \" $have \" | grep -q \" $p \" || bridge fdb append {zero} "
        f"dev {dev} dst $p 2>/dev/null || bridge fdb show dev {dev} | grep -q \"dst $p \"; done",
        f"for p in $have; do echo \" $want \" | grep -q \" $p \" || bridge fdb del {zero} "
        f"dev {dev} dst $p 2>/dev/null || true; done",
    ])


def remove_script(vnis: list[int]) -> str:
    return "; ".join(f"ip link del {device(v)} 2>/dev/null || true" for v in sorted(vnis)) or "true"


def _run(*args: str, check: bool = True) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise VxlanError(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def route_source(address: str) -> str:
    """The platform host's own address towards `address` (the kernel's choice)."""
    out = _run("ip", "-o", "route", "get", address)
    match = re.search(r"\bsrc (\S+)", out)
    if not match:
        raise VxlanError(f"no route from the platform host to {address}")
    return match.group(1)


def vnis_in(listing: str) -> set[int]:
    """The VNIs of our devices in `ip -o link show type vxlan` output."""
    return {int(m.group(1)) for m in re.finditer(rf"^\d+: {PREFIX}(\d+)[@:]", listing, re.M)}


def local_vnis(low: int, high: int) -> set[int]:
    """VNIs in [low, high) with a device on the platform host."""
    out = _run("ip", "-o", "link", "show", "type", "vxlan", check=False)
    return {v for v in vnis_in(out) if low <= v < high}


_RULES = (("FORWARD", "-i"), ("FORWARD", "-o"))


def _rules(name: str) -> list[list[str]]:
    rules = [[chain, flag, name, "-j", "DROP"] for chain, flag in _RULES]
    rules.append(["INPUT", "-i", name, "-m", "conntrack", "!", "--ctstate",
                  "ESTABLISHED,RELATED", "-j", "DROP"])
    return rules


def ensure_local(vni: int, local: str, peers: list[str], gateway: str, subnet: str) -> None:
    """The platform's end of a segment: device, FDB entries, shim with the gateway
    address, and the firewall rules; idempotent."""
    name = shim(vni)
    routed = _run("ip", "-o", "-4", "route", "show", "root", subnet, check=False)
    for line in routed.splitlines():
        dev = re.search(r"\bdev (\S+)", line)
        if dev and dev.group(1) != name:
            raise VxlanError(f"segment {subnet} is already routed on the platform host through "
                             f"{dev.group(1)}: give the network a subnet nothing else uses")
    _run("sh", "-c", host_script(vni, local, peers))
    if _run("ip", "link", "show", name, check=False) == "":
        _run("ip", "link", "add", name, "link", device(vni), "type", "macvlan", "mode", "bridge")
    prefix = ipaddress.ip_network(subnet).prefixlen
    _run("ip", "addr", "replace", f"{gateway}/{prefix}", "dev", name)
    _run("ip", "link", "set", name, "up")
    for rule in _rules(name):
        if subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode != 0:
            _run("iptables", "-I", *rule)


def remove_local(vni: int) -> None:
    name = shim(vni)
    for rule in _rules(name):
        while subprocess.run(["iptables", "-D", *rule], capture_output=True).returncode == 0:
            pass
    _run("ip", "link", "del", name, check=False)
    _run("ip", "link", "del", device(vni), check=False)


def routed_subnets() -> list[str]:
    """Subnets the platform host routes (its own networks, docker bridges of any engine)."""
    out = _run("ip", "-o", "-4", "route", "show", check=False)
    return [line.split()[0] for line in out.splitlines()
            if line and not line.startswith("default") and "/" in line.split()[0]]

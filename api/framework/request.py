"""What one node asks of a host, as placement sees it (built from the registry's Node
and NodeDisk rows by allocation.py; plain data, so placement needs no database)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class NodeRequest:
    name: str
    cpu: float
    mem: int  # MB
    disks: int = 0  # how many data disks, named ones included
    named: list[str] = field(default_factory=list)  # host disks the template names ("disk2")
    required_host: str = ""
    groups: list[str] = field(default_factory=list)  # anti-affinity: nodes sharing a group
    # go to distinct hosts (the node's tags the template's placement.anti_affinity matches)
    node_id: int | None = None
    tags: list[str] = field(default_factory=list)  # its role(s): spread spreads each role

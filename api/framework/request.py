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
    group: str = ""  # anti-affinity: nodes of one group go to distinct hosts
    node_id: int | None = None

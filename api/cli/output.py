"""How the client shows things: aligned tables for people, `--json` for scripts.

Owns table and JSON printing, time formatting, a node's host/address/disk text and the
progress bar. Nothing here talks to the API.
"""
from __future__ import annotations

import json
import sys


def json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def table(headers: list[str], rows: list[list], out=None) -> None:
    out = out or sys.stdout
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [headers] + cells
    for row in lines:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip(), file=out)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def fmt_health(health: dict | None) -> str:
    """"degraded - node node1 lost: host node-a lost: ...; operation restart #7 failed: ..."
    (a cluster's health, one line: its dead or lost nodes and a day-2 operation that failed)."""
    health = health or {}
    problems = "; ".join(
        f"node {p['node']} {p.get('status', '')}: {p.get('reason', '')}" if p.get("node")
        else f"operation {p.get('op')} #{p.get('operation')} failed: {p.get('reason', '')}"
        for p in health.get("problems") or [])
    return " - ".join(x for x in (health.get("status"), problems) if x)


def fmt_time(value) -> str:
    text = str(value or "")
    return text.replace("T", " ").split(".")[0]


def node_networks(node: dict) -> list[dict]:
    nets = node.get("networks") or node.get("interfaces") or []
    if isinstance(nets, dict):  # {"eth0": {...}}
        nets = [{"device": dev, **(v or {})} for dev, v in nets.items()]
    return sorted(nets, key=lambda n: str(n.get("device", "")))


def addresses_text(node: dict) -> str:
    return " ".join(f"{n.get('device')}={n.get('address') or '-'}" for n in node_networks(node))


def disks_text(node: dict) -> str:
    disks = node.get("disks") or []
    if isinstance(disks, dict):
        disks = [{"name": k, **(v or {})} for k, v in disks.items()]
    return " ".join(f"{d.get('destination') or d.get('name')}" for d in disks)


def node_host(node: dict) -> str:
    host = node.get("host")
    return (host.get("name") if isinstance(host, dict) else host) or "-"


def print_nodes(nodes: list[dict]) -> None:
    table(["NODE", "STATUS", "HOST", "ADDRESSES", "DISKS"],
          [[n.get("name"), n.get("status"), node_host(n), addresses_text(n), disks_text(n)]
           for n in nodes])


def progress_bar(percent: int, width: int = 24) -> str:
    percent = max(0, min(100, int(percent or 0)))
    done = width * percent // 100
    return "[" + "#" * done + "-" * (width - done) + f"] {percent:3d}%"


def expires_text(value) -> str:
    """`2026-12-02T11:00:00 (in 3h12m)` for a cluster's expiry; "" when it has none."""
    if not value:
        return ""
    import datetime as dt
    left = (dt.datetime.fromisoformat(value) - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).total_seconds()
    if left <= 0:
        return f"{value} (expired)"
    hours, rest = divmod(int(left), 3600)
    return f"{value} (in {hours}h{rest // 60:02d}m)" if hours else f"{value} (in {rest // 60}m{rest % 60:02d}s)"

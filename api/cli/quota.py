"""`bdp quota show [USER]` and `bdp quota set USER|--default --cpus 8 ...`: a user's limits
(clusters, nodes, cpus, memory in MB, disks) and what they hold now (issue 12)."""
from __future__ import annotations

from api.cli.output import json_flag, print_json, table
from api.cli.session import APIClient, ClientError, command

FIELDS = ("clusters", "nodes", "cpus", "memory", "disks")


def _limit(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def cmd_show(args) -> int:
    api = APIClient()
    name = args.user or api.me()["name"]
    q = api.get(f"/users/{name}/quota")
    if args.json:
        print_json(q)
        return 0
    print(f"quota of {q['user']}" + (" (the default)" if q.get("default") else ""))
    table(["", *FIELDS], [["limit", *[_limit(q["limits"].get(f)) for f in FIELDS]],
                          ["used", *[_limit(q["use"].get(f)) for f in FIELDS]]])
    return 0


def cmd_set(args) -> int:
    api = APIClient()
    if bool(args.user) == bool(args.default):
        raise ClientError("name a USER or say --default")
    path = "/quotas/default" if args.default else f"/users/{args.user}/quota"
    current = api.get(path)
    limits = dict(current.get("limits", current))
    for field in FIELDS:
        value = getattr(args, field)
        if value is not None:
            limits[field] = None if value in ("none", "-") else float(value) if field == "cpus" else int(value)
    api.request("PUT", path, json={f: limits.get(f) for f in FIELDS})
    if args.default:
        print("default quota: " + ", ".join(f"{f} {_limit(limits.get(f))}" for f in FIELDS))
        return 0
    args.json = False
    return cmd_show(args)


def register(subparsers) -> None:
    quota = subparsers.add_parser("quota", help="users' limits and what they hold")
    sub = quota.add_subparsers(dest="quota_command", metavar="COMMAND")
    p = sub.add_parser("show", help="a user's limits and use (default: yours)")
    p.add_argument("user", nargs="?")
    json_flag(p)
    p.set_defaults(func=command(cmd_show))
    p = sub.add_parser("set", help="set a user's limits, or the default's (admin); 'none' lifts one")
    p.add_argument("user", nargs="?")
    p.add_argument("--default", action="store_true", help="the limits of users without their own")
    for field in FIELDS:
        p.add_argument(f"--{field}", metavar="N", help=f"most {field}" + (" (MB)" if field == "memory" else ""))
    p.set_defaults(func=command(cmd_set))

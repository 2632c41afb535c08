"""`bdp hosts add|list|show|drain|activate|remove`: the hosts nodes run on, through the
REST API (admins add, drain, activate and remove; everyone may list and show)."""
from __future__ import annotations

import json

from api.cli.output import fmt_time, json_flag, print_json, table
from api.cli.session import APIClient, ClientError, command


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ClientError(f"--label {pair!r}: use KEY=VALUE")
        labels[key] = value
    return labels


def _free(view: dict, key: str) -> str:
    total, free = (view.get("total") or {}).get(key), (view.get("free") or {}).get(key)
    if key == "mem":
        return f"{free} of {total} MB"
    return f"{free} of {total}"


def cmd_add(args) -> int:
    body = {"name": args.name, "url": args.url, "disks": args.disk or [],
            "labels": _labels(args.label)}
    if args.tls_ca or args.tls_cert or args.tls_key:
        body["tls"] = {"ca": args.tls_ca, "cert": args.tls_cert, "key": args.tls_key}
    for key in ("cpus", "mem", "address"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    view = APIClient(timeout=300).request("POST", "/hosts", json=body)
    if args.json:
        print_json(view)
        return 0
    print(f"host {view['name']}: {_free(view, 'cpus')} cpus, {_free(view, 'mem')}, "
          f"{view['total']['disks']} disks free")
    if view.get("warning"):
        print(f"WARNING: {view['warning']}")
    return 0


def cmd_list(args) -> int:
    views = APIClient().get_all("/hosts", "hosts")
    if args.json:
        print_json(views)
        return 0
    if not views:
        print("No hosts yet. An administrator adds them with `bdp hosts add NAME URL`.")
        return 0
    table(["HOST", "STATE", "CPUS FREE", "MEMORY FREE", "DISKS FREE", "LAST SEEN", "URL"],
          [[v["name"], v.get("state", ""), _free(v, "cpus"), _free(v, "mem"), _free(v, "disks"),
            fmt_time(v.get("last_seen")), v.get("url") or "(found by the engine)"] for v in views])
    for v in views:
        if v.get("warning"):
            print(f"WARNING {v['name']}: {v['warning']}")
    return 0


def cmd_show(args) -> int:
    view = APIClient().get(f"/hosts/{args.name}")
    if args.json:
        print_json(view)
        return 0
    for key in ("name", "url", "address", "state", "state_reason", "last_seen"):
        if view.get(key):
            print(f"{key + ':':14}{view[key]}")
    for key in ("cpus", "mem", "disks"):
        print(f"{key + ':':14}{_free(view, key)} free, {view['used'][key]} used")
    if view.get("disk_paths"):
        print(f"{'disk paths:':14}{', '.join(view['disk_paths'])}")
    if view.get("labels"):
        print(f"{'labels:':14}{json.dumps(view['labels'])}")
    if view.get("warning"):
        print(f"WARNING: {view['warning']}")
    return 0


def _set_state(state: str):
    def run(args) -> int:
        view = APIClient().request("PATCH", f"/hosts/{args.name}", json={"state": state})
        print(f"host {view['name']}: {view['state']}")
        return 0
    return run


def cmd_remove(args) -> int:
    APIClient().request("DELETE", f"/hosts/{args.name}")
    print(f"host {args.name} removed")
    return 0


def register(subparsers) -> None:
    hosts = subparsers.add_parser("hosts", help="the hosts nodes run on")
    sub = hosts.add_subparsers(dest="hosts_command", metavar="COMMAND")
    p = sub.add_parser("add", help="register a Docker host (admin)")
    p.add_argument("name")
    p.add_argument("url", help="unix:///path, tcp://HOST:PORT (with --tls-* on untrusted "
                               "networks) or ssh://USER@HOST")
    p.add_argument("--disk", action="append", metavar="PATH", help="a data-disk directory on the host")
    p.add_argument("--label", action="append", metavar="KEY=VALUE")
    p.add_argument("--cpus", type=float, help="cpus to offer (default: the engine's)")
    p.add_argument("--mem", type=int, help="memory to offer, MB (default: the engine's)")
    p.add_argument("--address", help="the host's address on the site network (default: the url's)")
    for part in ("ca", "cert", "key"):
        p.add_argument(f"--tls-{part}", metavar="FILE", help=f"TLS {part} file on the platform host")
    json_flag(p)
    p.set_defaults(func=command(cmd_add))
    p = sub.add_parser("list", help="hosts with what is free on them")
    json_flag(p)
    p.set_defaults(func=command(cmd_list))
    p = sub.add_parser("show", help="one host")
    p.add_argument("name")
    json_flag(p)
    p.set_defaults(func=command(cmd_show))
    for verb, state, text in (("drain", "drain", "no new node goes there"),
                              ("activate", "active", "take new nodes again")):
        p = sub.add_parser(verb, help=text)
        p.add_argument("name")
        p.set_defaults(func=command(_set_state(state)))
    p = sub.add_parser("remove", help="forget a host with no nodes (admin)")
    p.add_argument("name")
    p.set_defaults(func=command(cmd_remove))
    hosts.set_defaults(func=lambda args: hosts.print_help() or 2)

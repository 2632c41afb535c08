"""`bdp launch|clusters|destroy`: a user's clusters, from launch to destroy.

Owns launching (with `--wait`, which watches the cluster's status and events as they
happen), listing and showing clusters, their nodes, services, events and orchestrator
logs, cluster actions, and destroying.
"""
from __future__ import annotations

import json

from api.cli import subcommands
from api.cli.follow import wait_quietly, watch
from api.cli.output import expires_text, fmt_health, fmt_time, json_flag, print_json, print_nodes, table
from api.cli.session import CLUSTER_REF_HELP, APIClient, ClientError, as_list, cluster_path, command, short_dn

# Cluster actions are queued operations (api/cli/operations.py follows them to the end).
ACTIONS = ("start", "stop", "restart", "status")
ACTION_TIMEOUT = 1800


def parse_option(text: str) -> tuple[str, object]:
    """`key=value`; the value is read as JSON when it parses (2, 0.5, true, [1]), else text."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ClientError(f"option {text!r}: expected key=value")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def cmd_launch(args) -> int:
    api = APIClient()
    options = dict(parse_option(o) for o in args.option or [])
    body = api.request("POST", f"/products/{args.product}/{args.version}", json=options)
    uri = body.get("cluster") or body.get("uri") or body.get("location") or body.get("dn") or ""
    if not uri:
        raise ClientError(f"the API accepted the launch but named no cluster: {body}")
    ref = short_dn(uri)
    if args.quiet:  # for scripts: CLUSTER=$(bdp launch ... -q --wait)
        code = wait_quietly(api, "/clusters/" + ref, {"ready"}, args.timeout) if args.wait else 0
        print(ref)
        return code
    if args.json and not args.wait:
        print_json(body)
        return 0
    print(f"Launched cluster {ref} (status {body.get('status', 'registered')})", flush=True)
    if not args.wait:
        print(f"Watch it with: bdp clusters show {ref}")
        return 0
    return watch(api, "/clusters/" + ref, until={"ready"}, timeout=args.timeout, as_json=args.json)


# --- clusters ---------------------------------------------------------------------------

def cluster_rows(clusters: list) -> list[list]:
    rows = []
    for c in clusters:
        if not isinstance(c, dict):
            c = {"dn": c}
        health = (c.get("health") or {}).get("status", "")
        rows.append([short_dn(c.get("dn") or c.get("uri") or ""), c.get("status", ""), health,
                     f"{c.get('progress', 0)}%", c.get("step", ""),
                     fmt_time(c.get("created")), c.get("reason", "")])
    return rows


def cmd_clusters_list(args) -> int:
    api = APIClient()
    path = "/clusters" + (f"/{args.user}" if args.user else "")
    clusters = api.get_all(path + ("?all=true" if args.all else "?active=true"), "clusters")
    if not args.all:
        clusters = [c for c in clusters if not isinstance(c, dict) or c.get("status") != "destroyed"]
    if args.json:
        print_json(clusters)
    elif clusters:
        table(["CLUSTER", "STATUS", "HEALTH", "PROGRESS", "STEP", "CREATED", "REASON"], cluster_rows(clusters))
    else:
        print("No clusters. Launch one with `bdp launch PRODUCT VERSION`.")
    return 0


def cmd_clusters_show(args) -> int:
    api = APIClient()
    c = api.get(cluster_path(api, args.cluster))
    if args.json:
        print_json(c)
        return 0
    fields = [("cluster", short_dn(c.get("dn") or c.get("uri") or args.cluster)),
              ("status", c.get("status")), ("progress", f"{c.get('progress', 0)}% {c.get('step', '')}".strip()),
              ("reason", c.get("reason")), ("health", fmt_health(c.get("health"))),
              ("activity", operation_text(c.get("operation"))), ("expires", expires_text(c.get("expires"))),
              ("dnsname", c.get("dnsname")),
              ("options", json.dumps(c.get("options") or {}, sort_keys=True)),
              ("created", fmt_time(c.get("created"))), ("updated", fmt_time(c.get("updated")))]
    width = max(len(k) for k, _ in fields)
    for key, value in fields:
        if value not in (None, ""):
            print(f"{key + ':':<{width + 1}} {value}")
    nodes = [n for n in c.get("nodes") or [] if isinstance(n, dict)]
    if not nodes and c.get("nodes"):  # the cluster view names its nodes; fetch their details
        nodes = as_list(api.get(cluster_path(api, args.cluster) + "/nodes"), "nodes")
    if nodes:
        print()
        print_nodes(nodes)
    return 0


def operation_text(op: dict | None) -> str:
    return f"{op['op']} #{op['id']} {op['status']}: {op.get('step', '')}" if op else ""


def cluster_list(ref: str, what: str) -> list:
    """One of a cluster's lists: nodes, services or events."""
    api = APIClient()
    return api.get_all(cluster_path(api, ref) + f"/{what}", what)


def cmd_clusters_nodes(args) -> int:
    nodes = cluster_list(args.cluster, "nodes")
    if args.json:
        print_json(nodes)
    else:
        print_nodes(nodes)
    return 0


def cmd_clusters_services(args) -> int:
    services = cluster_list(args.cluster, "services")
    if args.json:
        print_json(services)
        return 0
    rows = []
    for s in services:
        props = {k: v for k, v in s.items() if k not in ("name", "nodes")}
        props = props.get("properties", props)
        rows.append([s.get("name"), ",".join(s.get("nodes") or []),
                     " ".join(f"{k}={json.dumps(v)}" for k, v in props.items())])
    table(["SERVICE", "NODES", "PROPERTIES"], rows)
    return 0


def cmd_clusters_endpoints(args) -> int:
    api = APIClient()
    endpoints = as_list(api.get(cluster_path(api, args.cluster) + "/endpoints"), "endpoints")
    if args.json:
        print_json(endpoints)
        return 0
    if not endpoints:
        print("This product declares no web UIs or ports.")
        return 0
    table(["NAME", "NODE", "PORT", "OPEN"],
          [[e["name"], e["node"], f"{e['port']}/{e['protocol']}",
            (api.url + e["url"]) if e.get("url") else e.get("command")] for e in endpoints])
    return 0


def cmd_clusters_events(args) -> int:
    events = cluster_list(args.cluster, "events")
    if args.json:
        print_json(events)
        return 0
    table(["TIME", "COMPONENT", "LEVEL", "MESSAGE"],
          [[fmt_time(e.get("time")), e.get("component"), e.get("level", "info"), e.get("message")]
           for e in events])
    return 0


def cmd_clusters_logs(args) -> int:
    api = APIClient()
    runs = api.get_all(cluster_path(api, args.cluster) + "/logs", "runs")
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print("No orchestrator runs yet.")
    for run in runs:
        result = run.get("status") or run.get("result") or ""
        rc = f" rc={run['rc']}" if run.get("rc") is not None else ""
        print(f"=== {run.get('action', 'run')}  {fmt_time(run.get('started') or run.get('time'))}  {result}{rc}")
        if run.get("summary"):
            print(run["summary"])
        output = run.get("stdout") or run.get("output") or ""
        if output:
            print(output.rstrip())
        print()
    return 0


def cmd_destroy(args) -> int:
    api = APIClient()
    path = cluster_path(api, args.cluster)
    api.request("DELETE", path)
    ref = short_dn(path)
    print(f"Destroying cluster {ref}", flush=True)
    if not args.wait:
        return 0
    return watch(api, path, until={"destroyed"}, timeout=args.timeout, gone_ok=True)


# --- parsers ------------------------------------------------------------------------------

def register(subparsers) -> None:
    register_launch(subparsers)
    register_clusters(subparsers)
    register_destroy(subparsers)


def register_launch(subparsers) -> None:
    p = subparsers.add_parser("launch", help="launch a cluster of a product")
    p.add_argument("product")
    p.add_argument("version")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="an option (repeatable), e.g. -o size=3")
    p.add_argument("--wait", action="store_true", help="watch the cluster until it is ready or failed")
    p.add_argument("--timeout", type=float, default=1800, help="seconds --wait waits (default 1800)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the cluster (e.g. admin/hello/1.0.0/3), for scripts")
    json_flag(p)
    p.set_defaults(func=command(cmd_launch))


def register_clusters(subparsers) -> None:
    clusters = subparsers.add_parser("clusters", help="your clusters")
    sub = subcommands(clusters, "clusters_command")
    p = sub.add_parser("list", help="clusters with their status")
    p.add_argument("--user", help="only this user's clusters (admins)")
    p.add_argument("--all", action="store_true", help="include destroyed clusters")
    json_flag(p)
    p.set_defaults(func=command(cmd_clusters_list))
    for name, func, text in [("show", cmd_clusters_show, "a cluster's status and nodes"),
                             ("nodes", cmd_clusters_nodes, "nodes with host, addresses and disks"),
                             ("services", cmd_clusters_services, "services and their nodes"),
                             ("endpoints", cmd_clusters_endpoints, "web UIs (proxy URLs) and ports (port-forward commands)"),
                             ("events", cmd_clusters_events, "what happened, in order"),
                             ("logs", cmd_clusters_logs, "orchestrator (Ansible) runs and their output")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("cluster", help=CLUSTER_REF_HELP)
        json_flag(p)
        p.set_defaults(func=command(func))

    from api.cli.operations import cmd_action
    p = sub.add_parser("action", help="start, stop, restart or check a cluster (waits for the result)")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--timeout", type=float, default=ACTION_TIMEOUT,
                   help=f"seconds to wait for the result (default {ACTION_TIMEOUT})")
    json_flag(p)
    p.set_defaults(func=command(cmd_action))


def register_destroy(subparsers) -> None:
    p = subparsers.add_parser("destroy", help="destroy a cluster")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("--wait", action="store_true", help="wait until it is destroyed")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=command(cmd_destroy))

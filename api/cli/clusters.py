"""`bdp launch|clusters|destroy`: a user's clusters, from launch to destroy.

Owns launching (with `--wait`, which watches the cluster's status and events as they
happen), listing and showing clusters, their nodes, services, events and orchestrator
logs, cluster actions, and destroying.
"""
from __future__ import annotations

import json
import sys
import time

from api.cli import subcommands
from api.cli.output import fmt_time, json_flag, print_json, print_nodes, progress_bar, table
from api.cli.session import CLUSTER_REF_HELP, APIClient, ClientError, as_list, cluster_path, command, short_dn
from api.core.status import TRANSITIONS

# Statuses after which `--wait` stops watching (a launch also stops at `ready`).
LAUNCH_END = {"ready", "failed", "destroyed", "stopped"}
STATUSES = set(TRANSITIONS)
# Cluster actions run a whole playbook before the API answers (tens of seconds, more on
# a large cluster), so their request waits much longer than the 30 s of other calls.
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


# --- watching ---------------------------------------------------------------------------

def wait_quietly(api: APIClient, path: str, until: set[str], timeout: float) -> int:
    """Wait for a status in `until` printing nothing; a failure's reason goes to stderr."""
    deadline = time.monotonic() + timeout
    while True:
        c = api.get(path)
        if c.get("status") in until:
            return 0
        if c.get("status") == "failed":
            print(f"error: {short_dn(path)} failed: {c.get('reason', '')}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"error: {short_dn(path)} is still {c.get('status')} after {timeout:g}s", file=sys.stderr)
            return 1
        time.sleep(1)


def watch(api: APIClient, path: str, until: set[str], timeout: float, as_json: bool = False,
          gone_ok: bool = False) -> int:
    """Poll a cluster, printing each status change as it happens and a live progress line,
    until it reaches a status in `until` (0) or `failed` (1)."""
    return Watch(api, path, until, timeout, as_json, gone_ok).run()


class Watch:
    """One `--wait`: what the previous poll showed, so each poll prints only what changed."""

    def __init__(self, api: APIClient, path: str, until: set[str], timeout: float,
                 as_json: bool, gone_ok: bool):
        self.api, self.path, self.until = api, path, until
        self.timeout, self.as_json, self.gone_ok = timeout, as_json, gone_ok
        self.tty = sys.stdout.isatty()
        self.deadline = time.monotonic() + timeout
        self.last_status, self.last_progress = None, None
        self.live = False  # a progress line is on screen, not yet ended by a newline
        self.seen_events = None

    def run(self) -> int:
        while True:
            c = self.poll()
            self.show(c)
            code = self.outcome(c)
            if code is not None:
                return code
            time.sleep(1)

    def poll(self) -> dict:
        try:
            return self.api.get(self.path)
        except ClientError as exc:
            # Destroying ends with the cluster gone: its 404 is the last status.
            if self.gone_ok and str(exc).startswith("404"):
                return {"status": "destroyed"}
            raise

    def show(self, c: dict) -> None:
        status, percent, step = c.get("status"), c.get("progress") or 0, c.get("step") or ""
        # Every transition is an event, so reading them (not just polling the status)
        # shows each one, even those that came and went between two polls. Warnings
        # (e.g. "waiting for resources: ...") tell the user why nothing moves.
        self.seen_events, fresh = new_events(self.api, self.path, self.seen_events)
        lines = event_lines(fresh or ())
        if fresh is None and status != self.last_status:  # no events to read: say what the cluster says
            lines.append(f"{time.strftime('%H:%M:%S')}  {status}")
        if lines:
            self.end_live_line()
        for line in lines:
            print(line, flush=True)
        if self.tty and status not in self.until | {"failed"}:
            sys.stdout.write(f"\r  {status:<12} {progress_bar(percent)} {step:>7}")
            sys.stdout.flush()
            self.live = True
        elif not self.tty and status == self.last_status and (percent, step) != self.last_progress:
            print(f"          {status} {percent}% {step}".rstrip(), flush=True)
        self.last_status, self.last_progress = status, (percent, step)

    def outcome(self, c: dict) -> int | None:
        """The exit code once the watch is over, None while it goes on."""
        status = c.get("status")
        if status in self.until:
            self.end_live_line()
            if self.as_json:
                print_json(c)
            elif status == "ready":
                self.print_ready(c)
            return 0
        if status == "failed":
            self.end_live_line()
            print(f"error: cluster failed: {c.get('reason') or 'no reason given'}", file=sys.stderr)
            return 1
        if status in LAUNCH_END:
            print(f"error: cluster is {status}", file=sys.stderr)
            return 1
        if time.monotonic() > self.deadline:
            self.end_live_line()
            print(f"error: gave up waiting after {self.timeout:.0f}s; the cluster is still {status}",
                  file=sys.stderr)
            return 1
        return None

    def end_live_line(self) -> None:
        if self.live:
            print()
            self.live = False

    def print_ready(self, c: dict) -> None:
        print(f"Cluster {short_dn(c.get('dn') or c.get('uri') or self.path)} is ready.")
        nodes = c.get("nodes")
        if not nodes or not isinstance(nodes[0], dict):
            nodes = as_list(self.api.get(self.path + "/nodes"), "nodes")
        print_nodes(nodes)


def new_events(api: APIClient, path: str, seen: int | None) -> tuple[int | None, list[dict] | None]:
    """The cluster's events that appeared since the last look (None: none to be had)."""
    try:
        events = as_list(api.get(path + "/events"), "events")
    except ClientError:
        return seen, None
    return len(events), events[seen or 0:]


def event_lines(events) -> list[str]:
    """The lines worth showing while watching: statuses reached, and warnings."""
    lines = []
    for event in events:
        reached = transition_of(event)
        if reached:
            lines.append(f"{fmt_time(event.get('time'))[11:]}  {reached}")
        elif event.get("level", "info") not in ("info", "error"):
            lines.append(f"{fmt_time(event.get('time'))[11:]}  {event.get('level')}: {event.get('message')}")
    return lines


def transition_of(event: dict) -> str | None:
    """The status an event records reaching ("scheduled" or "failed: <reason>"), if any."""
    head = str(event.get("message", "")).split(":", 1)[0].strip()
    return head if head in STATUSES else None


# --- clusters ---------------------------------------------------------------------------

def cluster_rows(clusters: list) -> list[list]:
    rows = []
    for c in clusters:
        if not isinstance(c, dict):
            c = {"dn": c}
        rows.append([short_dn(c.get("dn") or c.get("uri") or ""), c.get("status", ""),
                     f"{c.get('progress', 0)}%", c.get("step", ""),
                     fmt_time(c.get("created")), c.get("reason", "")])
    return rows


def cmd_clusters_list(args) -> int:
    api = APIClient()
    path = "/clusters" + (f"/{args.user}" if args.user else "")
    clusters = as_list(api.get(path), "clusters")
    if not args.all:
        clusters = [c for c in clusters if not isinstance(c, dict) or c.get("status") != "destroyed"]
    if args.json:
        print_json(clusters)
    elif clusters:
        table(["CLUSTER", "STATUS", "PROGRESS", "STEP", "CREATED", "REASON"], cluster_rows(clusters))
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
              ("reason", c.get("reason")), ("dnsname", c.get("dnsname")),
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


def cluster_list(ref: str, what: str) -> list:
    """One of a cluster's lists: nodes, services or events."""
    api = APIClient()
    return as_list(api.get(cluster_path(api, ref) + f"/{what}"), what)


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
    runs = as_list(api.get(cluster_path(api, args.cluster) + "/logs"), "runs")
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


def cmd_clusters_action(args) -> int:
    api = APIClient(timeout=args.timeout)
    path = cluster_path(api, args.cluster)
    ref = short_dn(path)
    if not args.json:
        print(f"Running {args.action} on {ref} ...", flush=True)
    answer = api.request("POST", f"{path}/actions/{args.action}")
    ok = answer.get("result") == "successful"
    if args.json:
        print_json(answer)
    else:
        print(f"action:  {answer.get('action', args.action)}")
        print(f"result:  {'ok' if ok else 'failed'}")
        print(f"status:  {answer.get('status')}")
        if not ok:
            print(f"reason:  {answer.get('reason') or 'no reason given'}")
            print(f"The playbook's output: bdp clusters logs {ref}")
    return 0 if ok else 1


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
                             ("events", cmd_clusters_events, "what happened, in order"),
                             ("logs", cmd_clusters_logs, "orchestrator (Ansible) runs and their output")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("cluster", help=CLUSTER_REF_HELP)
        json_flag(p)
        p.set_defaults(func=command(func))

    p = sub.add_parser("action", help="start, stop, restart or check a cluster (waits for the result)")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--timeout", type=float, default=ACTION_TIMEOUT,
                   help=f"seconds to wait for the result (default {ACTION_TIMEOUT})")
    json_flag(p)
    p.set_defaults(func=command(cmd_clusters_action))


def register_destroy(subparsers) -> None:
    p = subparsers.add_parser("destroy", help="destroy a cluster")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("--wait", action="store_true", help="wait until it is destroyed")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=command(cmd_destroy))

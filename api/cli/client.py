"""The `bdp` client commands: a user's command line over the REST API.

Everything here talks HTTP to a running platform (`BDP_URL`, `BDP_TOKEN`, or the config
file written by `bdp login`); nothing opens the registry directly, so the same commands
work against a remote site. Lists print as aligned tables, `--json` prints what the API
said for scripts, and an API error is one line on stderr with exit code 1.
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path

import httpx

from api.core.config import API_PREFIX, Settings
from api.core.status import TRANSITIONS

DEFAULT_URL = "http://127.0.0.1:5000"
OPTION_GROUPS = ("required", "optional", "advanced")
# Statuses after which `--wait` stops watching (a launch also stops at `ready`).
LAUNCH_END = {"ready", "failed", "destroyed", "stopped"}
STATUSES = set(TRANSITIONS)
# Cluster actions run a whole playbook before the API answers (tens of seconds, more on
# a large cluster), so their request waits much longer than the 30 s of other calls.
ACTIONS = ("start", "stop", "restart", "status")
ACTION_TIMEOUT = 1800


class ClientError(Exception):
    """A failure worth one line to the user (API error, unreachable server, bad input)."""


# --- configuration -----------------------------------------------------------------

def config_path() -> Path:
    return Path(os.environ.get("BDP_CONFIG") or Path.home() / ".config/bdp/config.json").expanduser()


def read_config() -> dict:
    path = config_path()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {exc}") from exc


def write_config(data: dict) -> Path:
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def resolve_url(explicit: str | None = None) -> str:
    url = explicit or os.environ.get("BDP_URL") or read_config().get("url") or DEFAULT_URL
    return url.rstrip("/")


def resolve_token(explicit: str | None = None) -> str | None:
    token = explicit or os.environ.get("BDP_TOKEN") or read_config().get("token")
    if token:
        return token
    # On the platform's own machine the admin token file is a convenient last resort
    # (readable only by the platform's user).
    try:
        return (Settings().data_dir / "admin.token").read_text().strip() or None
    except OSError:
        return None


# --- HTTP --------------------------------------------------------------------------

class APIClient:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 30):
        self.url = resolve_url(url)
        self.token = resolve_token(token)
        headers = {"x-auth-token": self.token} if self.token else {}
        self.http = httpx.Client(base_url=self.url + API_PREFIX, headers=headers, timeout=timeout)
        self._me: dict | None = None

    def request(self, method: str, path: str, **kwargs):
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the API at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ClientError(error_line(response))
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            return {"text": response.text}

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def me(self) -> dict:
        """The signed-in user ({"name", "role", ...})."""
        if self._me is None:
            self._me = self.get("/users/me")
        return self._me


def error_line(response: httpx.Response) -> str:
    """The API's JSON error as one readable line, naming the field at fault."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip().splitlines()[0] if response.text.strip() else ""
        return f"{response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")
    status = body.get("status", response.status_code)
    title = body.get("error") or response.reason_phrase
    message = body.get("message") or body.get("description") or body.get("title") or ""
    head = title if str(title).startswith(str(status)) else f"{status} {title}"
    line = head + (f": {message}" if message and message != title else "")
    if body.get("field") and str(body["field"]) not in message:
        line += f" (field: {body['field']})"
    return " ".join(line.split())


# --- cluster references -------------------------------------------------------------

def cluster_path(api: APIClient, ref: str) -> str:
    """`user/product/version/id`, `product/version/id` (the caller's own) or a full
    `clusters/...` DN or URL -> the cluster's API path `/clusters/user/product/version/id`."""
    ref = ref.strip()
    if "/clusters/" in ref:
        ref = ref.split("/clusters/", 1)[1]
    elif ref.startswith("clusters/"):
        ref = ref[len("clusters/"):]
    parts = [p for p in ref.split("/") if p]
    if len(parts) == 3:
        parts.insert(0, api.me()["name"])
    if len(parts) != 4 or not parts[3].isdigit():
        raise ClientError(f"cluster {ref!r}: expected user/product/version/id or product/version/id")
    return "/clusters/" + "/".join(parts)


def short_dn(dn: str) -> str:
    """`clusters/alice/reference/1.0.0/3` or a URL -> `alice/reference/1.0.0/3`."""
    if "/clusters/" in dn:
        return dn.split("/clusters/", 1)[1]
    return dn[len("clusters/"):] if dn.startswith("clusters/") else dn


# --- output -----------------------------------------------------------------------------

def table(headers: list[str], rows: list[list], out=None) -> None:
    out = out or sys.stdout
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [headers] + cells
    for row in lines:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip(), file=out)


def print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def as_list(data, key: str) -> list:
    """Lists come as `{"<key>": [...]}` or bare; accept both."""
    if isinstance(data, dict):
        data = data.get(key, data.get("items", []))
    return list(data or [])


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


def fmt_time(value) -> str:
    text = str(value or "")
    return text.replace("T", " ").split(".")[0]


# --- commands -----------------------------------------------------------------------

def cmd_login(args) -> int:
    url = resolve_url(args.url)
    token = args.token or os.environ.get("BDP_TOKEN")
    if not token:
        if sys.stdin.isatty():
            token = getpass.getpass("Token: ")
        else:
            token = sys.stdin.readline()
    token = (token or "").strip()
    if not token:
        raise ClientError("no token given (use --token, BDP_TOKEN or type it when asked)")
    api = APIClient(url, token)
    me = api.me()  # proves the URL and the token before anything is saved
    path = write_config({**read_config(), "url": url, "token": token})
    print(f"Signed in to {url} as {me.get('name')} ({me.get('role', 'user')}); settings in {path}")
    return 0


def latest_version(versions: list[str]) -> str:
    def key(v: str):
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in str(v).replace("-", ".").split(".")]
    return sorted(versions, key=key)[-1]


def product_versions(api: APIClient, name: str) -> list[str]:
    return [str(v) for v in as_list(api.get(f"/products/{name}"), "versions")]


def cmd_products_list(args) -> int:
    api = APIClient()
    rows, data = [], []
    for name in as_list(api.get("/products"), "products"):
        name = name.get("name") if isinstance(name, dict) else name
        for version in product_versions(api, name):
            info = api.get(f"/products/{name}/{version}")
            data.append(info)
            rows.append([name, version, info.get("description", "")])
    if args.json:
        print_json(data)
    elif rows:
        table(["PRODUCT", "VERSION", "DESCRIPTION"], rows)
    else:
        print("No products yet. An administrator loads them with `bdp products load DIR`.")
    return 0


def cmd_products_show(args) -> int:
    api = APIClient()
    version = args.version or latest_version(product_versions(api, args.name) or ["?"])
    info = api.get(f"/products/{args.name}/{version}")
    options = api.get(f"/products/{args.name}/{version}/options") or {}
    if args.json:
        print_json({**info, "options": options})
        return 0
    print(f"{info.get('name', args.name)} {info.get('version', version)}")
    if info.get("description"):
        print(f"  {info['description']}")
    if info.get("logo_url"):
        print(f"  logo: {info['logo_url']}")
    descriptions = options.get("descriptions") or {}
    for group in OPTION_GROUPS:
        values = options.get(group) or {}
        if not values:
            continue
        label = {"required": "Required options (value shown is an example)",
                 "optional": "Optional options (value shown is the default)",
                 "advanced": "Advanced options (value shown is the default)"}[group]
        print(f"\n{label}:")
        table(["  OPTION", "VALUE", "DESCRIPTION"],
              [[f"  {k}", json.dumps(v), descriptions.get(k, "")] for k, v in values.items()])
    print(f"\nLaunch with: bdp launch {args.name} {version} "
          + " ".join(f"-o {k}={json.dumps(v) if not isinstance(v, str) else v}"
                     for k, v in (options.get("required") or {}).items()))
    return 0


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
    if args.json and not args.wait:
        print_json(body)
        return 0
    print(f"Launched cluster {ref} (status {body.get('status', 'registered')})", flush=True)
    if not args.wait:
        print(f"Watch it with: bdp clusters show {ref}")
        return 0
    return watch(api, "/clusters/" + ref, until={"ready"}, timeout=args.timeout, as_json=args.json)


def progress_bar(percent: int, width: int = 24) -> str:
    percent = max(0, min(100, int(percent or 0)))
    done = width * percent // 100
    return "[" + "#" * done + "-" * (width - done) + f"] {percent:3d}%"


def watch(api: APIClient, path: str, until: set[str], timeout: float, as_json: bool = False,
          gone_ok: bool = False) -> int:
    """Poll a cluster, printing each status change as it happens and a live progress line,
    until it reaches a status in `until` (0) or `failed` (1)."""
    tty = sys.stdout.isatty()
    deadline = time.monotonic() + timeout
    last_status, last_progress, live = None, None, False
    seen_events = None
    while True:
        try:
            c = api.get(path)
        except ClientError as exc:
            if gone_ok and str(exc).startswith("404"):
                c = {"status": "destroyed"}
            else:
                raise
        status, percent, step = c.get("status"), c.get("progress") or 0, c.get("step") or ""
        # Every transition is an event, so reading them (not just polling the status)
        # shows each one, even those that came and went between two polls. Warnings
        # (e.g. "waiting for resources: ...") tell the user why nothing moves.
        seen_events, fresh = new_events(api, path, seen_events)
        lines = []
        for event in fresh or ():
            reached = transition_of(event)
            if reached:
                lines.append(f"{fmt_time(event.get('time'))[11:]}  {reached}")
            elif event.get("level", "info") not in ("info", "error"):
                lines.append(f"{fmt_time(event.get('time'))[11:]}  {event.get('level')}: {event.get('message')}")
        if fresh is None and status != last_status:  # no events to read: say what the cluster says
            lines.append(f"{time.strftime('%H:%M:%S')}  {status}")
        if lines and live:
            print()
            live = False
        for line in lines:
            print(line, flush=True)
        if tty and status not in until | {"failed"}:
            sys.stdout.write(f"\r  {status:<12} {progress_bar(percent)} {step:>7}")
            sys.stdout.flush()
            live = True
        elif not tty and status == last_status and (percent, step) != last_progress:
            print(f"          {status} {percent}% {step}".rstrip(), flush=True)
        last_status, last_progress = status, (percent, step)
        if status in until:
            if live:
                print()
            if as_json:
                print_json(c)
            elif status == "ready":
                print(f"Cluster {short_dn(c.get('dn') or c.get('uri') or path)} is ready.")
                nodes = c.get("nodes")
                if not nodes or not isinstance(nodes[0], dict):
                    nodes = as_list(api.get(path + "/nodes"), "nodes")
                print_nodes(nodes)
            return 0
        if status == "failed":
            if live:
                print()
            print(f"error: cluster failed: {c.get('reason') or 'no reason given'}", file=sys.stderr)
            return 1
        if status in LAUNCH_END:
            print(f"error: cluster is {status}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            if live:
                print()
            print(f"error: gave up waiting after {timeout:.0f}s; the cluster is still {status}",
                  file=sys.stderr)
            return 1
        time.sleep(1)


def new_events(api: APIClient, path: str, seen: int | None) -> tuple[int | None, list[dict] | None]:
    """The cluster's events that appeared since the last look (None: none to be had)."""
    try:
        events = as_list(api.get(path + "/events"), "events")
    except ClientError:
        return seen, None
    return len(events), events[seen or 0:]


def transition_of(event: dict) -> str | None:
    """The status an event records reaching ("scheduled" or "failed: <reason>"), if any."""
    head = str(event.get("message", "")).split(":", 1)[0].strip()
    return head if head in STATUSES else None


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


def cmd_ssh(args) -> int:
    api = APIClient()
    path = cluster_path(api, args.cluster)
    nodes = as_list(api.get(path + "/nodes"), "nodes")
    node = next((n for n in nodes if n.get("name") == args.node), None)
    if node is None:
        names = ", ".join(n.get("name", "?") for n in nodes) or "none"
        raise ClientError(f"cluster {short_dn(path)} has no node {args.node!r} (nodes: {names})")
    nets = node_networks(node)
    eth0 = next((n for n in nets if n.get("device") == "eth0"), nets[0] if nets else {})
    if not eth0.get("address"):
        raise ClientError(f"node {args.node} has no address yet (status {node.get('status')})")
    command = ["ssh", "-o", "StrictHostKeyChecking=accept-new",
               "-o", f"UserKnownHostsFile={known_hosts_path()}"]
    if args.identity:
        command += ["-i", args.identity]
    command.append(f"root@{eth0['address']}")
    extra = list(args.command or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    command += extra
    sys.stdout.flush()
    os.execvp("ssh", command)
    return 0  # not reached


def known_hosts_path() -> Path:
    """Node addresses are reused by later clusters with new host keys; keeping them apart
    from ~/.ssh/known_hosts spares the user a scary (and here meaningless) warning."""
    path = config_path().parent / "known_hosts"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def cmd_keys_list(args) -> int:
    api = APIClient()
    name = api.me()["name"]
    keys = as_list(api.get(f"/users/{name}/ssh_keys"), "ssh_keys")
    if args.json:
        print_json(keys)
    elif keys:
        for key in keys:
            print(key)
    else:
        print("No SSH keys. Add one with `bdp keys add ~/.ssh/id_ed25519.pub`.")
    return 0


def cmd_keys_add(args) -> int:
    api = APIClient()
    try:
        new = Path(args.file).expanduser().read_text().strip()
    except OSError as exc:
        raise ClientError(f"cannot read {args.file}: {exc.strerror}") from exc
    if not new or "PRIVATE KEY" in new:
        raise ClientError(f"{args.file} is not a public key (give the .pub file)")
    name = api.me()["name"]
    keys = [str(k) for k in as_list(api.get(f"/users/{name}/ssh_keys"), "ssh_keys")]
    # The API keeps keys with single spaces; compare the same way to skip duplicates.
    lines = [" ".join(line.split()) for line in new.splitlines() if line.strip()]
    added = [line for line in dict.fromkeys(lines) if line not in keys]
    if not added:
        print(f"Key already registered for {name}.")
        return 0
    api.request("PUT", f"/users/{name}/ssh_keys", json={"ssh_keys": keys + added})
    print(f"Added {len(added)} key(s) for {name}; clusters launched from now on accept them.")
    return 0


# --- parser -------------------------------------------------------------------------------

def _run(func):
    """Turn ClientError into one line on stderr and exit code 1."""
    def wrapper(args) -> int:
        try:
            return func(args)
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 130
    wrapper.__name__ = func.__name__
    return wrapper


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _subparsers_of(parser: argparse.ArgumentParser, dest: str):
    """The sub-command action of `parser`, creating it when the parser has none yet
    (so `products` can be shared with the server module's `products load`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest=dest, metavar="COMMAND")


def register(subparsers) -> None:
    p = subparsers.add_parser("login", help="save the API URL and your token for the other commands")
    p.add_argument("--url", help=f"API base URL (default: $BDP_URL or {DEFAULT_URL})")
    p.add_argument("--token", help="your token (default: $BDP_TOKEN, or asked for)")
    p.set_defaults(func=_run(cmd_login))

    # `products load` belongs to the server module; list/show join the same parser.
    products = subparsers.choices.get("products") or subparsers.add_parser(
        "products", help="the product catalog")
    sub = _subparsers_of(products, "products_command")
    p = sub.add_parser("list", help="products and versions you can launch")
    _json_flag(p)
    p.set_defaults(func=_run(cmd_products_list))
    p = sub.add_parser("show", help="a product's description and options")
    p.add_argument("name")
    p.add_argument("version", nargs="?", help="default: the latest version")
    _json_flag(p)
    p.set_defaults(func=_run(cmd_products_show))

    p = subparsers.add_parser("launch", help="launch a cluster of a product")
    p.add_argument("product")
    p.add_argument("version")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                   help="an option (repeatable), e.g. -o size=3")
    p.add_argument("--wait", action="store_true", help="watch the cluster until it is ready or failed")
    p.add_argument("--timeout", type=float, default=1800, help="seconds --wait waits (default 1800)")
    _json_flag(p)
    p.set_defaults(func=_run(cmd_launch))

    clusters = subparsers.add_parser("clusters", help="your clusters")
    sub = _subparsers_of(clusters, "clusters_command")
    p = sub.add_parser("list", help="clusters with their status")
    p.add_argument("--user", help="only this user's clusters (admins)")
    p.add_argument("--all", action="store_true", help="include destroyed clusters")
    _json_flag(p)
    p.set_defaults(func=_run(cmd_clusters_list))
    for name, func, text in [("show", cmd_clusters_show, "a cluster's status and nodes"),
                             ("nodes", cmd_clusters_nodes, "nodes with host, addresses and disks"),
                             ("services", cmd_clusters_services, "services and their nodes"),
                             ("events", cmd_clusters_events, "what happened, in order"),
                             ("logs", cmd_clusters_logs, "orchestrator (Ansible) runs and their output")]:
        p = sub.add_parser(name, help=text)
        p.add_argument("cluster", help="user/product/version/id, or product/version/id for your own")
        _json_flag(p)
        p.set_defaults(func=_run(func))

    p = sub.add_parser("action", help="start, stop, restart or check a cluster (waits for the result)")
    p.add_argument("cluster", help="user/product/version/id, or product/version/id for your own")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("--timeout", type=float, default=ACTION_TIMEOUT,
                   help=f"seconds to wait for the result (default {ACTION_TIMEOUT})")
    _json_flag(p)
    p.set_defaults(func=_run(cmd_clusters_action))

    p = subparsers.add_parser("destroy", help="destroy a cluster")
    p.add_argument("cluster", help="user/product/version/id, or product/version/id for your own")
    p.add_argument("--wait", action="store_true", help="wait until it is destroyed")
    p.add_argument("--timeout", type=float, default=600)
    p.set_defaults(func=_run(cmd_destroy))

    p = subparsers.add_parser("ssh", help="open a shell (or run a command) on a node")
    p.add_argument("cluster", help="user/product/version/id, or product/version/id for your own")
    p.add_argument("node")
    p.add_argument("-i", "--identity", help="private key file (default: ssh's own choice)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run instead of a shell")
    p.set_defaults(func=_run(cmd_ssh))

    keys = subparsers.add_parser("keys", help="your SSH public keys")
    sub = _subparsers_of(keys, "keys_command")
    p = sub.add_parser("add", help="register a public key (appended to yours)")
    p.add_argument("file", help="public key file, e.g. ~/.ssh/id_ed25519.pub")
    p.set_defaults(func=_run(cmd_keys_add))
    p = sub.add_parser("list", help="your registered public keys")
    _json_flag(p)
    p.set_defaults(func=_run(cmd_keys_list))

"""`bdp login|ssh|keys`: how a user gets in, to the platform and to their nodes.

Owns signing in (saving the URL and token), the user's SSH public keys, and `ssh` into a
node with a known_hosts file of the cluster's own (~/.config/bdp/known_hosts.d/).
"""
from __future__ import annotations

import argparse
import getpass
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from api.cli import subcommands
from api.cli.operations import submit, waiting_flags
from api.cli.output import json_flag, node_networks, print_json
from api.cli.session import (
    CLUSTER_REF_HELP,
    DEFAULT_URL,
    APIClient,
    ClientError,
    as_list,
    cluster_path,
    command,
    config_path,
    read_config,
    resolve_url,
    short_dn,
    write_config,
)


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
    view = api.get(path)
    argv = ["ssh", "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={known_hosts_path(view.get('dn') or path, view.get('created', ''))}"]
    if not args.direct:
        # The bytes go over the API (api/cli/tunnel.py): no route to the node is needed.
        proxy = [sys.executable, "-m", "api.cli", "tunnel", short_dn(path), args.node, str(node.get("port") or 22)]
        argv += ["-o", "ProxyCommand=" + " ".join(shlex.quote(a) for a in proxy)]
    if args.identity:
        argv += ["-i", args.identity]
    target = f"root@{eth0['address']}"
    extra = list(args.command or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    sys.stdout.flush()
    code = subprocess.call(argv + [target, *extra])
    if code == 255 and _key_refused(argv, target):
        print(f"error: node {args.node} does not accept your SSH key. Register it with `bdp keys add "
              f"~/.ssh/id_ed25519.pub`, then give it to this running cluster with `bdp keys push "
              f"{short_dn(path)}` (clusters launched later get it by themselves).", file=sys.stderr)
    return code


def _key_refused(argv: list[str], target: str) -> bool:
    """Whether ssh failed because no key of ours is authorised (not the network)."""
    try:
        probe = subprocess.run([*argv, "-o", "BatchMode=yes", target, "true"], capture_output=True,
                               text=True, timeout=60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False
    return "Permission denied" in probe.stderr


def known_hosts_path(dn: str, created: str) -> Path:
    """One known_hosts file per cluster (dn and creation time: a later cluster with the
    same dn is another file). A later cluster that reuses a node's address comes with new
    host keys; in one shared file that would be "REMOTE HOST IDENTIFICATION HAS CHANGED"."""
    folder = config_path().parent / "known_hosts.d"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dn.removeprefix('clusters/')}@{created}")
    return folder / name


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
    print(f"Added {len(added)} key(s) for {name}; clusters launched from now on accept them "
          "(`bdp keys push CLUSTER` gives them to a running one).")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("login", help="save the API URL and your token for the other commands")
    p.add_argument("--url", help=f"API base URL (default: $BDP_URL or {DEFAULT_URL})")
    p.add_argument("--token", help="your token (default: $BDP_TOKEN, or asked for)")
    p.set_defaults(func=command(cmd_login))

    p = subparsers.add_parser("ssh", help="open a shell (or run a command) on a node")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("node")
    p.add_argument("-i", "--identity", help="private key file (default: ssh's own choice)")
    p.add_argument("--direct", action="store_true",
                   help="connect to the node's address directly (on the platform's own hosts), not through the API")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run instead of a shell")
    p.set_defaults(func=command(cmd_ssh))

    keys = subparsers.add_parser("keys", help="your SSH public keys")
    sub = subcommands(keys, "keys_command")
    p = sub.add_parser("add", help="register a public key (appended to yours)")
    p.add_argument("file", help="public key file, e.g. ~/.ssh/id_ed25519.pub")
    p.set_defaults(func=command(cmd_keys_add))
    p = sub.add_parser("push", help="give your keys as registered now to a running cluster (an operation)")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    waiting_flags(p, default_wait=True)
    p.set_defaults(func=command(lambda args: submit(args, {"op": "keys"})))
    p = sub.add_parser("list", help="your registered public keys")
    json_flag(p)
    p.set_defaults(func=command(cmd_keys_list))

"""`bdp resize|replace|repair|extend|ops`: day-2 operations on a cluster (issue 12).

Each queues an operation through `POST .../operations` (the API answers 202 at once) and,
with `--wait`, follows it on `/queue/<id>` printing each step and its progress until it
ends (read again when an event comes on the owner's stream, api/cli/follow.py); the exit status says whether it succeeded. `bdp ops list|show|cancel` read a
cluster's history, one operation, and cancel a pending one.
"""
from __future__ import annotations

import sys
import time

from api.cli.clusters import parse_option
from api.cli.follow import EventStream
from api.cli.output import fmt_time, json_flag, print_json, progress_bar, table
from api.cli.session import CLUSTER_REF_HELP, APIClient, ClientError, cluster_path, command, short_dn

API_PREFIX = "/bigdata/api/v1"
WAIT_DEFAULT = 3600
STEP_REFRESH = 2.0  # seconds between reads of a running operation while no event comes


def queue(api: APIClient, cluster: str, body: dict) -> dict:
    return api.request("POST", cluster_path(api, cluster) + "/operations", json=body)


def _where(job: dict) -> str:
    return job["uri"].split(API_PREFIX, 1)[1] if API_PREFIX in job["uri"] else f"/queue/{job['id']}"


def follow(api: APIClient, job: dict, timeout: float, as_json: bool = False, quiet: bool = False) -> int:
    """Watch an operation until it ends, printing its steps; 0 when it succeeded. The
    operation is read again when an event of its owner's clusters comes (queued, started,
    a node added, finished... are events) and every few seconds for its progress; a
    server that does not stream gets a read a second."""
    deadline = time.monotonic() + timeout
    last = None
    tty = sys.stdout.isatty() and not quiet
    stream = EventStream(api, _owner(job))
    try:
        while True:
            job = api.get(_where(job))
            shown = (job.get("status"), job.get("step"))
            if shown != last and not quiet and not as_json:
                if tty:
                    sys.stdout.write("\r")
                print(f"{time.strftime('%H:%M:%S')}  {job.get('op')} #{job['id']}  {job.get('status'):<9} "
                      f"{progress_bar(job.get('progress') or 0)} {job.get('step') or ''}", flush=True)
                last = shown
            if job.get("done"):
                break
            if time.monotonic() > deadline:
                print(f"error: operation #{job['id']} is still {job.get('status')} after {timeout:g}s",
                      file=sys.stderr)
                return 1
            if stream.supported:
                stream.wait(min(STEP_REFRESH, max(0.1, deadline - time.monotonic())))
            else:
                time.sleep(1)
    finally:
        stream.close()
    if as_json:
        print_json(job)
    elif job.get("status") != "succeeded" and not quiet:
        print(f"reason:  {job.get('reason') or 'no reason given'}")
        if job.get("run"):
            print(f"The playbook's output: bdp clusters logs {short_dn(job['cluster'])}")
    return 0 if job.get("status") == "succeeded" else 1


def _owner(job: dict) -> str:
    """The path of the stream of every cluster of the operation's owner (from now on:
    a cluster's own stream would first replay its whole history)."""
    return "/clusters/" + short_dn(job["cluster"]).split("/", 1)[0]


def submit(args, body: dict) -> int:
    api = APIClient()
    job = queue(api, args.cluster, body)
    if not args.wait:
        if args.json:
            print_json(job)
        else:
            print(f"Queued {job['op']} #{job['id']} on {short_dn(job['cluster'])} ({job['status']}); "
                  f"follow it with: bdp ops show {job['id']}")
        return 0
    return follow(api, job, args.timeout, args.json)


def cmd_resize(args) -> int:
    options = dict(parse_option(o) for o in args.option or [])
    if not options:
        raise ClientError("say what changes, e.g. -o size=5")
    return submit(args, {"op": "resize", "options": options})


def cmd_replace(args) -> int:
    return submit(args, {"op": "replace", "nodes": args.node})


def cmd_repair(args) -> int:
    return submit(args, {"op": "repair"})


def cmd_extend(args) -> int:
    return submit(args, {"op": "extend", "lifetime": args.lifetime})


def cmd_action(args) -> int:
    """`bdp clusters action CLUSTER ACTION`: queue it, wait for its end, and say how it
    went as the action command always did (action, result, status, reason)."""
    api = APIClient()
    path = cluster_path(api, args.cluster)
    ref = short_dn(path)
    if not args.json:
        print(f"Running {args.action} on {ref} ...", flush=True)
    job = api.request("POST", f"{path}/actions/{args.action}")
    code = follow(api, job, args.timeout, quiet=True)
    job = api.get(_where(job))
    ok = job.get("status") == "succeeded"
    status = (job.get("result") or {}).get("cluster_status") or job.get("cluster_status")
    if args.json:
        print_json({"action": args.action, "result": "successful" if ok else "failed", "status": status,
                    "reason": job.get("reason", ""), "run": job.get("run"), "operation": job})
        return code
    print(f"action:  {args.action}")
    print(f"result:  {'ok' if ok else 'failed'}")
    print(f"status:  {status}")
    if not ok:
        print(f"reason:  {job.get('reason') or 'no reason given'}")
        print(f"The playbook's output: bdp clusters logs {ref}")
    return code


def cmd_ops_list(args) -> int:
    api = APIClient()
    ops = api.get_all(cluster_path(api, args.cluster) + "/operations", "operations")
    if args.json:
        print_json(ops)
        return 0
    table(["ID", "OP", "STATUS", "BY", "STARTED", "FINISHED", "REASON"],
          [[o["id"], o["op"], o["status"], o.get("who", ""), fmt_time(o.get("started")),
            fmt_time(o.get("finished")), (o.get("reason") or "")[:60]] for o in ops])
    return 0


def cmd_ops_show(args) -> int:
    api = APIClient()
    job = api.get(f"/queue/{args.id}")
    if args.wait:
        return follow(api, job, args.timeout, args.json)
    if args.json:
        print_json(job)
        return 0
    for key in ("id", "op", "cluster", "status", "progress", "step", "who", "created", "started",
                "finished", "reason", "params", "result", "run"):
        print(f"{key + ':':<10}{job.get(key)}")
    return 0


def cmd_ops_cancel(args) -> int:
    job = APIClient().request("DELETE", f"/queue/{args.id}")
    print(f"operation #{job['id']} ({job['op']}) {job['status']}")
    return 0


def waiting_flags(p, default_wait: bool = False) -> None:
    p.add_argument("--wait", action="store_true", default=default_wait,
                   help="follow the operation until it ends (its steps and progress)")
    p.add_argument("--timeout", type=float, default=WAIT_DEFAULT, help="seconds --wait waits")
    json_flag(p)


def register(subparsers) -> None:
    p = subparsers.add_parser("resize", help="change a running cluster's size (options the product marks resizable)")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE", help="e.g. -o size=5")
    waiting_flags(p)
    p.set_defaults(func=command(cmd_resize))
    p = subparsers.add_parser("replace", help="recreate nodes (same name and addresses) and let them rejoin")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("node", nargs="+")
    waiting_flags(p)
    p.set_defaults(func=command(cmd_replace))
    p = subparsers.add_parser("repair", help="bring a failed cluster back (placed, started, configured again)")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    waiting_flags(p)
    p.set_defaults(func=command(cmd_repair))
    p = subparsers.add_parser("extend", help="give a cluster more time before it expires, e.g. 4h")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("lifetime", help="from now: 8h, 90m, 1h30m, 2d, or an ISO time")
    waiting_flags(p)
    p.set_defaults(func=command(cmd_extend))

    ops = subparsers.add_parser("ops", help="a cluster's operations")
    sub = ops.add_subparsers(dest="ops_command", metavar="COMMAND")
    p = sub.add_parser("list", help="a cluster's operations, oldest first")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    json_flag(p)
    p.set_defaults(func=command(cmd_ops_list))
    p = sub.add_parser("show", help="one operation (--wait: follow it)")
    p.add_argument("id")
    waiting_flags(p)
    p.set_defaults(func=command(cmd_ops_show))
    p = sub.add_parser("cancel", help="cancel a pending operation")
    p.add_argument("id")
    p.set_defaults(func=command(cmd_ops_cancel))

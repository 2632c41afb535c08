"""`bdp port-forward` and `bdp tunnel`: a node's port on the user's own machine, the bytes
carried over the API connection (a WebSocket of api/http/tunnel.py), so a laptop that
reaches only the API reaches its nodes. `bdp ssh` runs ssh with `bdp tunnel` as its
ProxyCommand.

`port-forward` listens on 127.0.0.1 (never on other interfaces: a forwarded port is as
private as the user's token) and opens one tunnel per accepted connection.
"""
from __future__ import annotations

import socket
import sys
import threading

import httpx

from api.cli.session import CLUSTER_REF_HELP, APIClient, ClientError, cluster_path, command, error_line
from api.core.config import API_PREFIX

CHUNK = 65536


def tunnel_url(api: APIClient, path: str, node: str, port: int) -> str:
    scheme = "wss" if api.url.startswith("https:") else "ws"
    return f"{scheme}{api.url[api.url.index(':'):]}{API_PREFIX}{path}/nodes/{node}/tunnel?port={port}"


def open_tunnel(api: APIClient, path: str, node: str, port: int):
    """A connected tunnel (a websockets sync connection), or a ClientError saying why not."""
    from websockets.exceptions import InvalidStatus, WebSocketException
    from websockets.sync.client import connect
    try:
        return connect(tunnel_url(api, path, node, port), additional_headers={"x-auth-token": api.token or ""},
                       open_timeout=20, max_size=None, compression=None, proxy=None)
    except InvalidStatus as exc:
        answer = exc.response
        raise ClientError(error_line(httpx.Response(answer.status_code, content=bytes(answer.body or b"")))) from None
    except (OSError, TimeoutError, WebSocketException) as exc:
        raise ClientError(f"cannot open a tunnel through the API at {api.url}: {exc}") from None


def relay(ws, read, write) -> None:
    """Carry bytes both ways until either side ends: `read()` -> bytes ("" at the end)
    goes to the tunnel, what the tunnel sends goes to `write(bytes)`."""
    def upstream() -> None:
        try:
            while data := read():
                ws.send(data)
        except OSError:
            pass
        finally:
            ws.close()

    threading.Thread(target=upstream, daemon=True).start()
    try:
        for message in ws:
            write(message if isinstance(message, bytes) else message.encode())
    except OSError:
        pass


def cmd_tunnel(args) -> int:
    """stdin/stdout <-> the node's port: ssh's ProxyCommand."""
    api = APIClient()
    ws = open_tunnel(api, cluster_path(api, args.cluster), args.node, args.port)
    out = sys.stdout.buffer

    def write(data: bytes) -> None:
        out.write(data)
        out.flush()
    relay(ws, lambda: sys.stdin.buffer.read1(CHUNK), write)
    return 0


def parse_ports(text: str) -> tuple[int, int]:
    local, _, remote = text.rpartition(":")
    try:
        ports = (int(local or remote), int(remote))
    except ValueError:
        raise ClientError(f"ports {text!r}: expected LOCAL:REMOTE or PORT, e.g. 5432:5432") from None
    if not all(0 <= p <= 65535 for p in ports) or ports[1] == 0:
        raise ClientError(f"ports {text!r}: out of range")
    return ports


def cmd_port_forward(args) -> int:
    api = APIClient()
    path = cluster_path(api, args.cluster)
    local, remote = parse_ports(args.ports)
    open_tunnel(api, path, args.node, remote).close()  # refuse at once what the API refuses
    listener = socket.create_server(("127.0.0.1", local))
    print(f"Forwarding 127.0.0.1:{listener.getsockname()[1]} -> {args.node}:{remote} "
          f"(cluster {path.removeprefix('/clusters/')}); Ctrl-C ends it", flush=True)

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                ws = open_tunnel(api, path, args.node, remote)
            except ClientError as exc:
                print(f"error: {exc}", file=sys.stderr, flush=True)
                return
            relay(ws, lambda: conn.recv(CHUNK), conn.sendall)
    with listener:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()


def register(subparsers) -> None:
    p = subparsers.add_parser("port-forward", help="reach a node's port from this machine, through the API")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("node")
    p.add_argument("ports", metavar="LOCAL:REMOTE",
                   help="a local port (0: any free one) and the node's port (its SSH port or an endpoint's)")
    p.set_defaults(func=command(cmd_port_forward))

    p = subparsers.add_parser("tunnel", help="stdin/stdout to a node's port through the API (ssh's ProxyCommand)")
    p.add_argument("cluster", help=CLUSTER_REF_HELP)
    p.add_argument("node")
    p.add_argument("port", type=int)
    p.set_defaults(func=command(cmd_tunnel))

#!/usr/bin/env python3
"""The webref test bundle's server (standard library only): HTTP on 8000 answers what it
received as JSON, redirects on /redirect (to its own address) and /rooted (an absolute
path), sets two cookies on /cookie, echoes POST bodies and WebSocket messages (/ws); TCP
on 9000 echoes bytes."""
import base64
import hashlib
import json
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDRESS = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Web(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, code, body, ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.websocket()
        if self.path.startswith("/redirect"):
            return self.answer(302, b"", headers=[("Location", f"http://{ADDRESS}:8000/there")])
        if self.path.startswith("/rooted"):
            return self.answer(302, b"", headers=[("Location", "/there")])
        if self.path.startswith("/cookie"):
            return self.answer(200, b"{}", headers=[("Set-Cookie", "session=s3cret; Path=/"),
                                                    ("Set-Cookie", "_xsrf=x1; Path=/")])
        seen = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}
        self.answer(200, json.dumps(seen).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(200, body, "application/octet-stream")

    def websocket(self):
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        while True:
            head = self.rfile.read(2)
            if len(head) < 2:
                return
            op, size = head[0] & 15, head[1] & 127
            if size == 126:
                size = int.from_bytes(self.rfile.read(2), "big")
            elif size == 127:
                size = int.from_bytes(self.rfile.read(8), "big")
            mask = self.rfile.read(4) if head[1] & 128 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(size)))
            if op == 8:
                self.frame(8, data[:2])
                return
            self.frame(10 if op == 9 else op, data)

    def frame(self, op, data):
        n = len(data)
        size = bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big") if n < 65536 \
            else bytes([127]) + n.to_bytes(8, "big")
        self.wfile.write(bytes([0x80 | op]) + size + data)
        self.wfile.flush()


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while data := self.request.recv(65536):
            self.request.sendall(data)


socketserver.ThreadingTCPServer.allow_reuse_address = True
tcp = socketserver.ThreadingTCPServer(("0.0.0.0", 9000), Echo)
threading.Thread(target=tcp.serve_forever, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", 8000), Web).serve_forever()

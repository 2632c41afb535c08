"""What the API benchmarks share: a throwaway PostgreSQL, a real `bdp api` process on a
scratch data directory, wrk runs against it, idle SSE followers, and the load average
(the machine is shared: figures are ratios against peers measured in the same run)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token-0123456789"
PREFIX = "/bigdata/api/v1"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


class Postgres:
    """initdb + pg_ctl in a temporary directory, as the tests' fixture does."""

    def __enter__(self) -> str:
        self.base = Path(tempfile.mkdtemp(prefix="bdp-bench-pg-"))
        self.port = free_port()
        user = "postgres"
        shutil.chown(self.base, user)
        self.as_pg = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
        data = self.base / "data"
        subprocess.run([*self.as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", "bdp", "-A", "trust"],
                       check=True, capture_output=True)
        subprocess.run([*self.as_pg, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(self.base / "log"),
                        "-w", "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                        "-c max_connections=200 -c fsync=off", "start"], check=True, capture_output=True)
        subprocess.run([*self.as_pg, str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "bdp", "bdp"], check=True, capture_output=True)
        return f"postgresql://bdp@127.0.0.1:{self.port}/bdp"

    def __exit__(self, *exc) -> None:
        subprocess.run([*self.as_pg, str(PG_BIN / "pg_ctl"), "-D", str(self.base / "data"), "-m",
                        "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)


def prepared_registry(data_dir: Path, database_url: str | None, seed=None) -> None:
    """Migrate the registry, make the admin and its token, load the bundles, then
    `seed()`; all in this process, closed before the server starts."""
    from api.catalog import bundle
    from api.core import auth
    from api.core.config import Settings
    from api.platform import Platform
    platform = Platform(Settings(data_dir=data_dir, database_url=database_url, admin_token=TOKEN))
    auth.bootstrap_admin(platform.settings)
    bundle.sync_bundles(REPO / "products")
    if seed:
        seed()
        # What autovacuum would have done by the time a registry holds this many: rows
        # written in seconds have no statistics yet and their stamps' old versions
        # (api/core/stamps.py) are still there, which a registry in use does not see.
        platform.database.execute_sql("VACUUM")
        platform.database.execute_sql("ANALYZE")
    platform.database.close()


class API:
    """`bdp api` (one worker per core unless told) in a subprocess."""

    def __init__(self, data_dir: Path, database_url: str | None, workers: int | None = None,
                 command: str = "api"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BDP_ADMIN_TOKEN": TOKEN, "BDP_DATA_DIR": str(data_dir),
               "PYTHONPATH": str(REPO), "BDP_LOG_LEVEL": "WARNING"}
        env.pop("BDP_CHECK_RESPONSES", None)  # production settings
        if database_url:
            env["BDP_DATABASE_URL"] = database_url
        args = [sys.executable, "-m", "api.cli", command, "--port", str(self.port)]
        if workers:
            args += ["--workers", str(workers)]
        self.log = open(data_dir.parent / f"api-{self.port}.log", "wb")
        self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def __enter__(self) -> "API":
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bdp api exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + PREFIX + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("bdp api did not answer within 60 s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(10)
        self.log.close()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(url: str, seconds: int = 10, connections: int = 32, threads: int = 2, auth: bool = True,
        ok: bool = True) -> dict:
    """req/s, p50 and p99 (ms) of `connections` clients for `seconds`."""
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if auth:
        args += ["-H", f"x-auth-token: {TOKEN}"]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors and ok:
        raise RuntimeError(f"{url}: {errors.group(1)} answers were errors:\n{out}")
    return {"rps": rps, "p50": p50, "p99": p99, "load": load()}


class Followers:
    """`count` idle SSE followers of one events path (raw sockets: each costs the client
    a file descriptor and nothing else)."""

    def __init__(self, port: int, path: str, count: int):
        self.sockets = []
        request = (f"GET {path} HTTP/1.1\r\nHost: bench\r\nx-auth-token: {TOKEN}\r\n"
                   "Accept: text/event-stream\r\n\r\n").encode()
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(request)
            self.sockets.append(s)
        for s in self.sockets:  # each stream has started (its retry line came back)
            data = b""
            while b"retry:" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("a follower's stream ended before it began")
                data += chunk
            s.setblocking(False)

    def alive(self) -> int:
        """How many streams are still open (the server has not closed them)."""
        n = 0
        for s in self.sockets:
            try:
                n += s.recv(65536) != b""
            except BlockingIOError:
                n += 1
        return n

    def close(self) -> None:
        for s in self.sockets:
            s.close()

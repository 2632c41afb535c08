"""Registering a 200-node cluster over HTTP (issue 13, P1): `POST /products/reference/1.0.0
{"size": 200}` against a real `bdp api` (production settings, one worker per core), one
client with keep-alive, 20 runs after a warm-up, on SQLite and PostgreSQL; beside it the
round trip of an empty POST on the same server (`POST /health`, answered 405 by the
router: the server's floor for a POST). Goal: <= 50 ms median.
Run: `.venv/bin/python -m bench http_registration [sqlite|postgresql]`.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import report, served

HEADING = "## Registration over HTTP (issue 13: P1)"
NODES = 200
RUNS = 20
TARGET_MS = 50.0
COMMAND = "`make bench` or `.venv/bin/python -m bench http_registration`"


def _times(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def measure(database: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bdp-bench-p1-") as tmp:
        data_dir = Path(tmp) / "data"
        if database == "postgresql":
            with served.Postgres() as url:
                return _measure(data_dir, url)
        return _measure(data_dir, None)


def _measure(data_dir: Path, url: str | None) -> dict:
    served.prepared_registry(data_dir, url)
    with served.API(data_dir, url) as api, httpx.Client(
            base_url=api.url + served.PREFIX, headers={"x-auth-token": served.TOKEN}, timeout=30) as http:
        def register():
            r = http.post("/products/reference/1.0.0", json={"size": NODES})
            assert r.status_code == 202, r.text

        def empty():
            assert http.post("/health").status_code == 405
        register()
        empty()
        reg = _times(register, RUNS)
        bare = _times(empty, RUNS * 5)
        last = http.get("/clusters/admin/reference/1.0.0/" + str(RUNS + 1)).json()
        assert len(last["nodes"]) == NODES, last
    return {"median": statistics.median(reg), "min": min(reg), "max": max(reg),
            "bare": statistics.median(bare), "load": served.load()}


def table(results: dict) -> str:
    lines = ["| database | register a 200-node cluster over HTTP (median of 20) | min | max "
             "| empty POST round trip (median of 100) | load avg (1, 5, 15 min) | verdict |",
             "|---|---|---|---|---|---|---|"]
    for database, r in results.items():
        verdict = "meets" if r["median"] <= TARGET_MS else "MISSES"
        lines.append(f"| {database} | {r['median']:.1f} ms | {r['min']:.1f} ms | {r['max']:.1f} ms "
                     f"| {r['bare']:.2f} ms | {r['load']} | {verdict} |")
    lines += ["", f"Goal: <= {TARGET_MS:.0f} ms median (issue 13 measured 64.5 ms with curl before). "
              "One client with keep-alive; the server registers (options, sandboxed template, "
              "document check, one transaction of cluster, 200 nodes, disks and interfaces)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    results = {db: measure(db) for db in (argv or ["sqlite", "postgresql"])}
    report.publish(HEADING, COMMAND, "(2 cores shared with other engineers' Docker tests)", table(results))
    return 0 if all(r["median"] <= TARGET_MS for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

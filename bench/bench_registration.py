"""Registration of a 200-node cluster through the API (issue 2).

Each run is one `POST /products/reference/1.0.0 {"size": 200}` through the Falcon
app (auth, option checks, sandboxed rendering, schema check, network lookup, and
the one-transaction insert of cluster, 200 nodes, 200 disks, 400 interfaces and
the services) on SQLite in a temporary data directory. The peer is a bare Falcon
request answering `{}` through the same test client, measured in the same run, so
the ratio shows how far registration is from the framework's floor on this machine.
The original registry needed 50-121 s for this; the target is under 50 ms (median).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import report

NODES = 200
RUNS = 20
TARGET_MS = 50.0
TOKEN = "bench-admin-token"
REPO = Path(__file__).resolve().parent.parent
HEADING = "## Registration (issue 2)"


def _median_ms(fn, runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times), max(times)


def measure(runs: int = RUNS, nodes: int = NODES) -> dict:
    import falcon
    from falcon import testing

    from api.catalog import bundle
    from api.core.config import Settings
    from api.core.models import Network, Node
    from api.http.app import create_app
    from api.platform import Platform

    with tempfile.TemporaryDirectory(prefix="bdp-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", admin_token=TOKEN)
        platform = Platform(settings)
        bundle.sync_bundles(REPO / "products")
        app = create_app(platform)
        for i, name in enumerate(("admin", "storage")):  # the template's networks
            if not Network.select().where(Network.name == name).exists():
                Network.create(name=name, subnet=f"10.9{i}.0.0/16", gateway=f"10.9{i}.0.1",
                               range_start=f"10.9{i}.0.2", range_end=f"10.9{i}.255.254")
        client = testing.TestClient(app, headers={"x-auth-token": TOKEN})
        path = "/bigdata/api/v1/products/reference/1.0.0"

        def register():
            r = client.simulate_post(path, json={"size": nodes})
            assert r.status_code == 202, r.text

        register()  # warm-up: compiles and caches the template
        reg = _median_ms(register, runs)
        last = client.simulate_get(client.simulate_get("/bigdata/api/v1/clusters").json["clusters"][-1]["uri"])
        assert len(last.json["nodes"]) == nodes and Node.select().count() == nodes * (runs + 1)

        class Bare:
            def on_post(self, req, resp):
                resp.media = {}
        bare_app = falcon.App()
        bare_app.add_route("/bare", Bare())
        bare_client = testing.TestClient(bare_app)
        bare = _median_ms(lambda: bare_client.simulate_post("/bare", json={"size": nodes}), runs * 10)
        platform.database.close()
    return {"nodes": nodes, "runs": runs, "median": reg[0], "min": reg[1], "max": reg[2],
            "bare": bare[0], "ratio": reg[0] / bare[0]}


def table(r: dict) -> str:
    verdict = "meets" if r["median"] < TARGET_MS else "MISSES"
    return "\n".join([
        "| measurement | median | min | max |",
        "|---|---|---|---|",
        f"| register a {r['nodes']}-node cluster (POST launch, SQLite), {r['runs']} runs "
        f"| {r['median']:.1f} ms | {r['min']:.1f} ms | {r['max']:.1f} ms |",
        f"| peer: bare Falcon POST through the same test client | {r['bare']:.3f} ms | | |",
        "",
        f"Ratio registration / bare request: {r['ratio']:.0f}x. Target: under {TARGET_MS:.0f} ms "
        f"median ({verdict}); the original registry needed 50-121 s.",
    ])


COMMAND = "`make bench` or `.venv/bin/python -m bench registration`"
CONDITIONS = "(2 cores, shared)"


def main() -> int:
    result = measure()
    report.publish(HEADING, COMMAND, CONDITIONS, table(result))
    return 0 if result["median"] < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())

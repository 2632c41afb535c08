"""Resize (issue 12): the reference product grown from 3 to 6 nodes (the added nodes
placed, started and configured: the operation ends after tag `scale_out` and the status
check) against a fresh launch of 3 nodes (POST to `ready`), in the same run, on the same
platform. Target: resize / launch <= 1.0. Run: `.venv/bin/python -m bench resize`.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench import harness, report

HEADING = "## Resize (issue 12)"
RUNS = 2
OPTIONS = {"disks": 1, "cpu": 0.25, "mem": 128}
TARGET = 1.0


def _launch(bench) -> tuple[float, object]:
    from api.clusters.registration import launch
    from api.core.models import Cluster, Product
    product = Product.get((Product.name == "reference") & (Product.version == "1.0.0"))
    started = time.monotonic()
    _uri, seq, _job = launch(bench.platform, bench.user, product, {"size": 3, **OPTIONS})
    cluster = Cluster.get((Cluster.user == bench.user) & (Cluster.product == product) & (Cluster.seq == seq))
    harness.wait_status(cluster.id, {"ready"}, timeout=900, interval=0.05)
    return time.monotonic() - started, cluster


def _resize(bench, cluster) -> float:
    from api.clusters import operations
    from api.core.models import Job
    started = time.monotonic()
    job = operations.enqueue(bench.platform, bench.user, cluster, {"op": "resize", "options": {"size": 6}})
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        row = Job.get_by_id(job.id)
        if row.status in ("succeeded", "failed", "cancelled"):
            if row.status != "succeeded":
                raise RuntimeError(f"resize {row.status}: {row.reason}")
            return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError("resize did not end within 900 s")


def _destroy(bench, cluster) -> None:
    from api.clusters.registration import destroy
    destroy(bench.user, cluster)
    bench.platform.wake("framework")
    harness.wait_status(cluster.id, {"destroyed"}, timeout=300, interval=0.1)


def measure() -> dict:
    with tempfile.TemporaryDirectory(prefix="bdp-bench-resize-") as tmp:
        bench = harness.ControllerBench(Path(tmp), disks=16, poll_interval=0.5, orchestrator=True)
        launches, resizes = [], []
        try:
            for _ in range(RUNS):
                # Each run: a fresh launch of 3 (timed), then that cluster grown to 6 (timed).
                took, cluster = _launch(bench)
                launches.append(took)
                resizes.append(_resize(bench, cluster))
                _destroy(bench, cluster)
        finally:
            bench.close()
    launch, resize = statistics.median(launches), statistics.median(resizes)
    return {"launch": launch, "resize": resize, "ratio": resize / launch, "launches": launches,
            "resizes": resizes}


def table(r: dict) -> str:
    verdict = "meets" if r["ratio"] <= TARGET else "misses"
    return "\n".join([
        "| reference | seconds |", "|---|---|",
        f"| fresh launch of 3 nodes: POST -> ready | {r['launch']:.2f} s |",
        f"| resize 3 -> 6: queued -> succeeded (3 nodes placed and started; one run of tags `scale_out,status`, the check on the new nodes) | {r['resize']:.2f} s |",
        f"| ratio resize / launch | {r['ratio']:.2f} |", "",
        f"Median of {RUNS} runs (launches {', '.join(f'{x:.2f}' for x in r['launches'])} s; resizes "
        f"{', '.join(f'{x:.2f}' for x in r['resizes'])} s). Target: ratio <= {TARGET:.1f} ({verdict})."])


COMMAND = "`make bench` or `.venv/bin/python -m bench resize`"
CONDITIONS = ("(2 cores, shared with other work, so absolute times vary), controllers in threads of "
              "one process as `bdp server` runs them, poll interval 0.5 s, nodes of 0.25 cpu and 128 MB")


def main() -> int:
    results = measure()
    report.publish(HEADING, COMMAND, CONDITIONS, table(results))
    return 0 if results["ratio"] <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Products (issues 5 and 14): per product bundle, the node image's build time cold and
cached, and launch-to-ready time at the product's default size through a real `bdp
server`, with where that time goes (bench/phases.py: the cluster's events and runs).

- cold: the product image `bdp/<name>:<version>` is removed first (never the base image
  `bdp/base:bookworm`, which stays built), then `api.engines.images.ensure_product_image`; the
  apt/pip layers are really rebuilt, since removing the image removes its layers.
- cached: the same call again (the context hash matches: no build).
- launch to ready: `POST /products/<name>/<version>` with the options document's
  example values for the required keys (defaults for the rest), until the cluster's view
  says `ready`; then DELETE, wait for `destroyed`.
- where the time goes: the phases registered -> scheduled -> configured -> ready from the
  cluster's events, the `start` run's slowest tasks and the `status` runs from its logs.

Run: `.venv/bin/python -m bench products` (every bundle) or
`.venv/bin/python -m bench products slurm postgresql`; `--no-cold` keeps the images as
they are (built once if missing, never removed) and measures launches only.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import phases, report

REPO = Path(__file__).resolve().parent.parent
HEADING = "## Products (issues 5 and 14)"
API = "/bigdata/api/v1"
SKIP: set[str] = set()
TARGET = 20.0  # seconds to ready at the default size, images built (issue 14)
READY_TIMEOUT = 900  # seconds from POST to ready on a loaded machine


def _bundles(products_dir: Path, names: list[str]) -> list[Path]:
    found = sorted(p.parent for p in products_dir.glob("*/*/product.yml") if p.parent.parent.name not in SKIP)
    if names:
        unknown = sorted(set(names) - {b.parent.name for b in found})
        if unknown:
            raise SystemExit(f"bench products: no bundle for {', '.join(unknown)} under {products_dir}")
        found = [b for b in found if b.parent.name in names]
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loadavg() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


# ----------------------------------------------------------------------------- images

def image_times(bundle: Path, cold: bool = True) -> dict:
    import docker
    from docker.errors import APIError, ImageNotFound

    from api.engines import images
    name, version = bundle.parent.name, bundle.name
    tag = images.product_image_tag(name, version)
    assert tag != images.BASE_IMAGE
    client = docker.from_env(timeout=images.BUILD_TIMEOUT)
    images.ensure_base_image(client, log=lambda *_: None)  # the base is not what is measured
    if cold:
        try:
            # Not forced: an image a container still uses would keep its layers and the
            # "cold" build would be served from the layer cache.
            client.images.remove(tag, noprune=False)
        except ImageNotFound:
            pass
        except APIError as exc:
            raise RuntimeError(f"cannot remove {tag} for a cold build (in use?): {exc.explanation}") from None
    started = time.perf_counter()
    images.ensure_product_image(bundle, name, version, client=client, log=lambda *_: None)
    first = time.perf_counter() - started
    started = time.perf_counter()
    images.ensure_product_image(bundle, name, version, client=client, log=lambda *_: None)
    cached = time.perf_counter() - started
    size = client.images.get(tag).attrs["Size"] / 1e6
    return {"tag": tag, "cold": first if cold else None, "cached": cached, "size_mb": size,
            "load_build": _loadavg()}


# ----------------------------------------------------------------------------- launches

class Server:
    """A real `bdp server` on its own data directory and port."""

    def __init__(self, workdir: Path):
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_urlsafe(24)
        self.log_path = workdir / "server.log"
        env = {**os.environ, "BDP_ADMIN_TOKEN": self.token, "BDP_DATA_DIR": str(self.data_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "server", "--port", str(self.port)],
            cwd=REPO, env=env, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True)
        import httpx
        self.http = httpx.Client(base_url=self.url + API, headers={"x-auth-token": self.token}, timeout=60)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bdp server exited: {self.log()}")
            try:
                if self.http.get("/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bdp server not healthy: {self.log()}")
            time.sleep(0.3)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        import docker

        from api.engines.base import LABEL_PLATFORM
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        client = docker.from_env()
        label = f"{LABEL_PLATFORM}={self.data_dir}"
        for c in client.containers.list(all=True, filters={"label": label}):
            c.remove(force=True)
        for net in client.networks.list(filters={"label": label}):
            net.remove()


def _wait(server: Server, path: str, wanted: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = server.http.get(path).json()
        if view["status"] == wanted:
            return view
        if view["status"] == "failed":
            raise RuntimeError(f"{path} failed: {view.get('reason')}")
        time.sleep(0.25)
    raise RuntimeError(f"{path} not {wanted} within {timeout:.0f}s")


def launch_time(server: Server, bundle: Path) -> dict:
    name, version = bundle.parent.name, bundle.name
    doc = json.loads((bundle / "options.json").read_text())
    options = dict(doc.get("required") or {})  # the documented examples
    started = time.perf_counter()
    r = server.http.post(f"/products/{name}/{version}", json=options)
    if r.status_code != 202:
        raise RuntimeError(f"launch {name} {version}: {r.status_code} {r.text}")
    path = r.json()["cluster"].split(API, 1)[1]
    view = _wait(server, path, "ready", READY_TIMEOUT)
    elapsed = time.perf_counter() - started
    nodes = len(view.get("nodes") or server.http.get(path + "/nodes").json()["nodes"])
    load = _loadavg()
    events = server.http.get(path + "/events").json()["events"]
    runs = server.http.get(path + "/logs", params={"output": "false"}).json()["runs"]
    if server.http.delete(path).status_code != 202:
        raise RuntimeError(f"DELETE {path} refused")
    _wait(server, path, "destroyed", 300)
    return {"options": options, "nodes": nodes, "ready": elapsed, "load_launch": load,
            "breakdown": phases.breakdown(events, runs)}


# ----------------------------------------------------------------------------- report

def _cell(text: str) -> str:
    return text.replace("|", "/")


def table(results: list[dict]) -> str:
    rows = ["| product | default size (POSTed options) | nodes | launch -> ready | registered -> scheduled | "
            "scheduled -> configured | configured -> ready | where the time goes | image | image build cold | "
            "image build cached | load avg (1, 5, 15 min) at build | load avg at ready |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['product']} | failed: {_cell(r['error'])} | | | | | | | | | | | |")
            continue
        b = r["breakdown"]
        ph = [f"{b['phases'][k]:.1f} s" if k in b["phases"] else "" for k, _, _ in phases.PHASES]
        cold = f"{r['cold']:.1f} s" if r["cold"] is not None else "not rebuilt (`--no-cold`)"
        verdict = "" if r["ready"] <= TARGET else " (over 20 s)"
        every = r.get("all_ready") or []
        every = f" [{', '.join(f'{x:.1f}' for x in every)}]" if len(every) > 1 else ""
        rows.append(f"| {r['product']} | `{json.dumps(r['options'])}` | {r['nodes']} | "
                    f"{r['ready']:.1f} s{verdict}{every} | {' | '.join(ph)} | {_cell(phases.describe(b))} | "
                    f"{r['tag']} ({r['size_mb']:.0f} MB) | {cold} | {r['cached']:.2f} s | "
                    f"{r['load_build']} | {r['load_launch']} |")
    return "\n".join(rows)


def _merge_rows(text: str, old_section: str) -> str:
    """Keep the rows of products this run did not measure (`bench products gluster` must
    not drop slurm's figures); rows are keyed by their first cell, and only rows of the
    same columns are kept."""
    ours = text.splitlines()
    width = ours[0].count("|")
    measured = {line.split("|")[1].strip() for line in ours[2:]}
    kept = [line for line in old_section.splitlines()
            if line.startswith("| ") and not line.startswith("| product ") and line.count("|") == width
            and line.split("|")[1].strip() not in measured]
    rows = sorted(ours[2:] + kept, key=lambda line: line.split("|")[1].strip())
    return "\n".join(ours[:2] + rows)


COMMAND = ("`.venv/bin/python -m bench products [--no-cold] [--runs N] [NAME ...]` (no names: every "
           "bundle under `products/`; rows of products not named are kept)")
CONDITIONS = (
    "(2 cores shared by other engineers' builds and tests: the load average is beside each figure, and "
    "absolute times vary with it). Cold = product image removed (base image kept), then "
    "`api.engines.images.ensure_product_image`, packages from the Debian mirror (PyPI wheels a bundle lists "
    "in `image/wheels.txt` are fetched once into `image/wheels/` and reused, so cold excludes that "
    "download); cached = the same call again. Launch -> ready = `POST /products/<name>/<version>` "
    "with the options document's example values until the cluster is `ready`, through a real "
    "`bdp server` (default settings), image already built; with `--runs N` the median of N launches "
    "(every run's figure in brackets), and its phases. Phases come from the cluster's events; "
    "\"where the time goes\" from its runs (`GET .../logs`): the `start` playbook run, its slowest "
    "tasks (longest host), the seconds of the run no task accounts for (ansible start-up, playbook "
    "parsing, SSH connections), and each `status` run (the orchestrator retries it every 2 s until "
    "it passes). Target (issue 14): every product ready in 20 s or less")


def _measure(bundle: Path, cold: bool, runs: int) -> dict:
    product = f"{bundle.parent.name} {bundle.name}"
    print(f"### {product}: image ({'cold, ' if cold else ''}cached)", flush=True)
    result = {"product": product, **image_times(bundle, cold)}
    launches = []
    for i in range(runs):
        print(f"### {product}: launch to ready ({i + 1}/{runs})", flush=True)
        workdir = Path(tempfile.mkdtemp(prefix=f"bdp-bench-{bundle.parent.name}-"))
        server = Server(workdir)
        try:
            launches.append(launch_time(server, bundle))
        finally:
            server.close()
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"    {launches[-1]['ready']:.1f} s {launches[-1]['breakdown']}", flush=True)
    median = sorted(launches, key=lambda r: r["ready"])[(len(launches) - 1) // 2]
    result.update(median)
    result["all_ready"] = [r["ready"] for r in launches]
    return result


def main(argv: list[str] | None = None) -> int:
    # bench/__main__.py calls main() with no arguments: product names follow "products".
    if argv is None:
        argv = sys.argv[sys.argv.index("products") + 1:] if "products" in sys.argv else []
    import argparse
    parser = argparse.ArgumentParser(prog="python -m bench products")
    parser.add_argument("--no-cold", action="store_true",
                        help="keep the product images (no cold build): measure launches only")
    parser.add_argument("--runs", type=int, default=1, help="launches per product (the median is reported)")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    from api.core.config import Settings
    bundles = _bundles(Settings().products_dir, args.names)
    results = []
    for bundle in bundles:
        try:
            result = _measure(bundle, not args.no_cold, max(1, args.runs))
        except Exception as exc:  # one broken product must not hide the others' figures
            result = {"product": f"{bundle.parent.name} {bundle.name}",
                      "error": str(exc).splitlines()[0][:200]}
        print(result, flush=True)
        results.append(result)
    # Rows of products not measured this time are kept.
    text = _merge_rows(table(results), report.current_section(HEADING))
    report.publish(HEADING, COMMAND, CONDITIONS, text)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

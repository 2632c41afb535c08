"""`bdp products lint|render|load|test`: a product author's loop, with nothing but the
command line — write, lint, render, load (--build), test, debug.

- `lint DIR`: every check the platform makes of a bundle, at once (api/catalog/lint.py).
- `render DIR|NAME VERSION -o k=v`: the cluster document a launch would register.
- `load DIR [--build]`: publish bundles through the API; `--build` (re)builds the node
  images whose image/ changed, on this machine's Docker Engine.
- `test DIR`: load, launch, wait for `ready`, run the bundle's own tests/, destroy, report
  (`--cluster DN` runs the tests against a cluster that is already there).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from api.cli import subcommands
from api.cli.clusters import parse_option, watch
from api.cli.session import APIClient, ClientError, cluster_path, command, resolve_token
from api.core.config import REPO_ROOT

TEST_TIMEOUT = 900  # seconds per bundle test
OUTPUT_TAIL = 40  # lines of a failing test shown


# --- lint and render ----------------------------------------------------------------

def cmd_lint(args) -> int:
    from api.catalog.bundle import find_bundles
    from api.catalog.lint import lint
    paths = find_bundles(args.dir)
    if not paths:
        raise ClientError(f"no product bundle (product.yml) under {args.dir}")
    errors = 0
    for path in paths:
        findings = lint(path)
        errors += sum(f.level == "error" for f in findings)
        for f in findings:
            print(f"{path}/{f}")
        if not findings:
            print(f"{path}: ok")
    return 1 if errors else 0


def _options(pairs: list[str]) -> dict:
    return dict(parse_option(text) for text in pairs or [])


def cmd_render(args) -> int:
    given = _options(args.option)
    if Path(args.target).is_dir():
        document = _render_local(Path(args.target), given, args.user)
    else:
        if not args.version:
            raise ClientError("give NAME VERSION of a loaded product, or a bundle directory")
        answer = APIClient().request("POST", f"/products/{args.target}/{args.version}/render", json=given)
        document = answer if args.full else answer.get("document")
    print(json.dumps(document, indent=2, sort_keys=False))
    return 0


def _render_local(path: Path, given: dict, user: str) -> dict:
    """The bundle's template rendered here, with the same checks as a launch."""
    from api.catalog import options as opts
    from api.catalog import template
    from api.catalog.bundle import load_bundle
    from api.core.errors import DomainError
    try:
        b = load_bundle(path)
        values = opts.merge(opts.check_document(b.options) if b.options else None, given)
        doc, _checked = template.render_document(b.template, b.template_format,
                                                 template.variables(values, user, b.name, b.version, 1))
    except ValueError as exc:
        raise ClientError(str(exc)) from None
    except template.TemplateError as exc:
        raise ClientError(f"{path}: {exc.message}" + (f" (line {exc.line})" if exc.line else "")) from None
    except DomainError as exc:
        raise ClientError(exc.message + (f" (field {exc.field})" if exc.field else "")) from None
    return doc


# --- load ---------------------------------------------------------------------------

def load(api: APIClient, path: Path, build: bool) -> str:
    """Create or update one bundle's product through the API; returns what happened."""
    from api.catalog.bundle import load_bundle
    try:
        b = load_bundle(path)
    except ValueError as exc:
        raise ClientError(str(exc)) from None
    if build and b.image:
        from api.engines.images import ImageBuildError, ensure_product_image
        try:
            ensure_product_image(path, b.name, b.version, log=lambda line: None)
        except ImageBuildError as exc:
            raise ClientError(f"{b.name} {b.version}: {exc}") from None
    parts = {"description": b.description, "logo_url": b.logo_url, "template": b.template,
             "template_format": b.template_format, "options": b.options}
    parts = {k: v for k, v in parts.items() if v is not None}
    try:
        api.request("POST", "/products", json={"name": b.name, "version": b.version, **parts})
        action = "created"
    except ClientError as exc:
        if not str(exc).startswith("409"):
            raise
        api.request("PATCH", f"/products/{b.name}/{b.version}", json=parts)
        action = "updated"
    # The image and what its image/ is now: a launch says so when the image is older.
    api.request("PATCH", f"/products/{b.name}/{b.version}", json={"image": b.image, "image_hash": b.image_hash,
                                                                    "day2": b.day2})
    if b.orchestrator is not None:
        ctype = "application/gzip" if b.orchestrator_format == "tar.gz" else "application/yaml"
        try:
            api.request("PUT", f"/products/{b.name}/{b.version}/orchestrator", content=b.orchestrator,
                        headers={"Content-Type": ctype})
        except ClientError as exc:
            raise ClientError(f"orchestrator: {exc}") from None
    return action + (" (image built)" if build and b.image else "")


def cmd_load(args) -> int:
    from api.catalog.bundle import find_bundles
    token = args.token or resolve_token(None)
    if not token and args.data_dir:
        token = (Path(args.data_dir).expanduser() / "admin.token").read_text().strip()
    api = APIClient(args.url, token, timeout=120)
    paths = find_bundles(args.dir)
    if not paths:
        raise ClientError(f"no product bundle (product.yml) under {args.dir}")
    failed = 0
    for path in paths:
        try:
            print(f"{path.parent.name} {path.name}: {load(api, path, args.build)}")
        except ClientError as exc:
            print(f"{path}: failed: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


# --- test ---------------------------------------------------------------------------

def bundle_tests(path: Path) -> list[Path]:
    """The bundle's own tests: playbooks (*.yml) and executables in tests/, in name order."""
    folder = path / "tests"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and (
        p.suffix in (".yml", ".yaml") or os.access(p, os.X_OK)))


def _test_env(path: Path, dn: str, api: APIClient, workdir: Path, identity: str | None) -> tuple[dict, Path]:
    """What a bundle test runs with: the platform's URL and token, the cluster's dn, and
    an inventory source of the bdp plugin for that cluster."""
    source = workdir / "cluster.bdp.yml"
    lines = ["plugin: bdp", f"cluster: {dn}", f"url: {api.url}"]
    if identity:
        lines.append(f"ssh_private_key_file: {Path(identity).expanduser().resolve()}")
    source.write_text("\n".join(lines) + "\n")
    bindir = os.path.dirname(sys.executable)
    env = {**os.environ, "BDP_URL": api.url, "BDP_TOKEN": api.token or "", "BDP_CLUSTER": dn,
           "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "")]),
           "ANSIBLE_INVENTORY_PLUGINS": str(REPO_ROOT / "inventory_plugins"),
           "ANSIBLE_INVENTORY_ENABLED": "bdp", "ANSIBLE_HOST_KEY_CHECKING": "False",
           "ANSIBLE_ROLES_PATH": f"{path / 'roles'}:{REPO_ROOT / 'roles'}", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3", "ANSIBLE_PIPELINING": "True",
           # ssh's control sockets under a short path: under a long $HOME they exceed the
           # 108 bytes of a unix socket's name and every host is "unreachable" (seen).
           "ANSIBLE_SSH_CONTROL_PATH_DIR": str(workdir / "cp")}
    return env, source


def run_tests(path: Path, dn: str, api: APIClient, identity: str | None) -> int:
    """Run every test of the bundle against cluster `dn`; prints one line each; the number failed."""
    tests = bundle_tests(path)
    if not tests:
        print(f"{path}: no tests/ (playbooks or executables) to run")
        return 0
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bdp-test-") as tmp:
        env, source = _test_env(path, dn, api, Path(tmp), identity)
        for test in tests:
            if test.suffix in (".yml", ".yaml"):
                argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(source), str(test)]
            else:
                argv = [str(test)]
            started = time.monotonic()
            try:
                done = subprocess.run(argv, cwd=path, env=env, capture_output=True, text=True,
                                      timeout=TEST_TIMEOUT)
                code, output = done.returncode, done.stdout + done.stderr
            except subprocess.TimeoutExpired as exc:
                code, output = -1, f"{exc}\n{exc.stdout or ''}"
            took = time.monotonic() - started
            print(f"{'PASS' if code == 0 else 'FAIL'} {test.relative_to(path)} ({took:.1f}s)")
            if code != 0:
                failed += 1
                for line in output.strip().splitlines()[-OUTPUT_TAIL:]:
                    print(f"    {line}")
    return failed


def cmd_test(args) -> int:
    path = Path(args.dir)
    api = APIClient(timeout=120)
    if args.cluster:
        return 1 if run_tests(path, cluster_path(api, args.cluster).strip("/"), api, args.identity) else 0
    from api.catalog.bundle import load_bundle
    b = load_bundle(path) if (path / "product.yml").exists() else None
    if b is None:
        raise ClientError(f"{path} is not a product bundle (no product.yml)")
    print(f"{b.name} {b.version}: {load(api, path, args.build)}")
    answer = api.request("POST", f"/products/{b.name}/{b.version}", json=_options(args.option))
    dn = answer["cluster"].split("/bigdata/api/v1/", 1)[-1]
    print(f"launched {dn}")
    failed = 1
    try:
        if watch(api, "/" + dn, {"ready"}, args.timeout) != 0:
            print(f"{dn} did not become ready; its events: bdp clusters events {dn.removeprefix('clusters/')}")
            return 1
        failed = run_tests(path, dn, api, args.identity)
    finally:
        if args.keep:
            print(f"kept {dn} (--keep): destroy it with bdp destroy {dn.removeprefix('clusters/')}")
        else:
            api.request("DELETE", "/" + dn)
            watch(api, "/" + dn, {"destroyed"}, args.timeout, gone_ok=True)
    print(f"{b.name} {b.version}: {'all tests passed' if not failed else f'{failed} test(s) failed'}")
    return 1 if failed else 0


# --- parsers ------------------------------------------------------------------------

def register(subparsers) -> None:
    products = subparsers.choices.get("products") or subparsers.add_parser("products", help="the product catalog")
    sub = subcommands(products, "products_command")
    p = sub.add_parser("lint", help="check bundles under DIR as the platform would, naming file and line")
    p.add_argument("dir", type=Path)
    p.set_defaults(func=command(cmd_lint))

    p = sub.add_parser("render", help="the cluster document a launch would register (nothing is created)")
    p.add_argument("target", help="a bundle directory, or a loaded product's NAME")
    p.add_argument("version", nargs="?", help="the loaded product's VERSION")
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE", help="an option value (repeatable)")
    p.add_argument("--user", default="admin", help="the user a bundle directory renders for (default admin)")
    p.add_argument("--full", action="store_true", help="with the checked options and the cluster's URI")
    p.set_defaults(func=command(cmd_render))

    p = sub.add_parser("load", help="register or update every product bundle under DIR through the API")
    p.add_argument("dir", type=Path)
    p.add_argument("--build", action="store_true", help="build the node images whose image/ changed (this machine's Docker)")
    p.add_argument("--url", help="API URL (default: $BDP_URL, your login, or http://127.0.0.1:5000)")
    p.add_argument("--token", help="token (default: $BDP_TOKEN, your login, or DATA_DIR/admin.token)")
    p.add_argument("--data-dir", help="the platform's data directory, for its admin.token")
    p.set_defaults(func=command(cmd_load))

    p = sub.add_parser("test", help="load DIR, launch it, wait for ready, run its tests/, destroy, report")
    p.add_argument("dir", type=Path)
    p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE", help="a launch option (repeatable)")
    p.add_argument("--build", action="store_true", help="build the node image first if its image/ changed")
    p.add_argument("--cluster", help="run the tests against this cluster instead (no load, launch or destroy)")
    p.add_argument("--identity", "-i", help="SSH private key the tests reach the nodes with (one of your `bdp keys`)")
    p.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for ready (default 600)")
    p.set_defaults(func=command(cmd_test))

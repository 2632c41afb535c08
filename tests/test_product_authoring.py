"""A product author's broken cases against a real `bdp server`: an image older than its
bundle is named in the launch's events; `bdp ssh` into a later cluster that reuses a
node's address never trips a host-key check."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from support.common import ADMIN_TOKEN, REPO
from support.products import FAST


def bdp(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def make_hello(root):
    bundle = root / "hello" / "1.0.0"
    shutil.copytree(REPO / "products" / "reference" / "1.0.0", bundle)
    meta = (bundle / "product.yml").read_text().replace("name: reference", "name: hello")
    (bundle / "product.yml").write_text(meta)
    (bundle / "template.json.j2").write_text(
        (bundle / "template.json.j2").read_text().replace("bdp/reference:1.0.0", "bdp/hello:1.0.0"))
    return bundle


def test_stale_image_and_reused_addresses(server_factory, tmp_path, docker_client):
    server = server_factory(env=FAST).start()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDP_")}
    env.update(HOME=str(home), BDP_URL=server.url, BDP_TOKEN=ADMIN_TOKEN,
               BDP_CONFIG=str(home / ".config/bdp/config.json"))
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    assert bdp(env, "keys", "add", f"{key}.pub").returncode == 0
    bundle = make_hello(tmp_path / "bundles")
    r = bdp(env, "products", "load", str(bundle.parent.parent), "--build")
    assert r.returncode == 0 and "created (image built)" in r.stdout, r.stdout + r.stderr

    # The Dockerfile changes after the build and the bundle is loaded without --build.
    with open(bundle / "image" / "Dockerfile", "a") as f:
        f.write('RUN echo "edited after the build" > /etc/motd\n')
    assert bdp(env, "products", "load", str(bundle.parent.parent)).returncode == 0
    first = bdp(env, "launch", "hello", "1.0.0", "-o", "size=1", "-q", "--wait")
    assert first.returncode == 0, first.stderr
    events = bdp(env, "clusters", "events", first.stdout.strip()).stdout
    assert "image bdp/hello:1.0.0 is older than the hello 1.0.0 bundle" in events, events

    def address(ref):
        import json
        nodes = json.loads(bdp(env, "clusters", "nodes", ref, "--json").stdout)
        nodes = nodes["nodes"] if isinstance(nodes, dict) else nodes
        return next(n["address"] for n in nodes[0]["networks"] if n["device"] == "eth0")

    a = first.stdout.strip()
    a_address = address(a)
    assert bdp(env, "ssh", "-i", str(key), a, "node1", "--", "true").returncode == 0
    assert bdp(env, "destroy", a, "--wait").returncode == 0
    second = bdp(env, "launch", "hello", "1.0.0", "-o", "size=1", "-q", "--wait")
    b = second.stdout.strip()
    assert address(b) == a_address  # the freed address is reused, with new host keys
    r = bdp(env, "ssh", "-i", str(key), b, "node1", "--", "cat", "/etc/bdp-marker")
    assert r.returncode == 0 and "configured-by-bdp" in r.stdout, r.stderr
    assert "IDENTIFICATION HAS CHANGED" not in r.stderr
    assert len(list((home / ".config" / "bdp" / "known_hosts.d").iterdir())) == 2
    assert bdp(env, "destroy", b, "--wait").returncode == 0

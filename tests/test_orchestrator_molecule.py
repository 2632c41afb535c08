"""The molecule scenario of the shared roles runs offline (ansible-core + molecule from
PyPI, instances on the local Docker Engine) and leaves nothing behind."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.common import REPO


def test_shared_roles_scenario_passes_and_cleans_up(docker_client):
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    done = subprocess.run([str(bindir / "molecule"), "test", "-s", "shared_roles"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for step in ("converge", "idempotence", "verify"):
        assert f"{step}: Executed: Successful" in output
    assert docker_client.containers.list(all=True, filters={"label": "org.bdp.molecule=shared_roles"}) == []

"""Molecule scenarios run offline (ansible-core + molecule from PyPI, instances on the
local Docker Engine) and leave nothing behind: the shared roles', and a product bundle's
own (the Slurm bundle's munge role, from molecule/skeleton/)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.common import REPO

SCENARIOS = {
    "shared_roles": (REPO, ["-s", "shared_roles"], "org.bdp.molecule=shared_roles"),
    "slurm bundle": (REPO / "products" / "slurm" / "22.05", [], "org.bdp.molecule=default"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_molecule_scenario_passes_and_cleans_up(scenario, docker_client):
    project, args, label = SCENARIOS[scenario]
    if "slurm" in scenario:
        from api.engines.images import ensure_product_image
        ensure_product_image(project, "slurm", "22.05", log=lambda line: None)
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1"}
    done = subprocess.run([str(bindir / "molecule"), "test", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for step in ("converge", "idempotence", "verify"):
        assert f"{step}: Executed: Successful" in output
    names = [c.name for c in docker_client.containers.list(all=True, filters={"label": label})]
    assert not [n for n in names if n.startswith("bdp-molecule-")], names

"""Slurm 22.05 bundle, end to end: launched through the REST API of a real `bdp server`
(framework + orchestrator on the local Docker Engine), used as a user would use it, checked
by the `status` action after a daemon dies, repaired by `restart`, then destroyed."""
from __future__ import annotations

import pytest

from support.common import REPO
from support.products import FAST, action, bundle_tests, destroy_and_check, launch_until_ready, run

SIZE = 2
MEM = 320
COMPUTES = [f"compute{i}" for i in range(1, SIZE + 1)]


def sinfo_states(docker_client, server, dn: str) -> dict[str, str]:
    code, out = run(docker_client, server, dn, "controller", ["sinfo", "--noheader", "--Node", "--format", "%N %t"])
    assert code == 0, out
    return dict(line.split() for line in out.splitlines() if line.strip())


@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_slurm_cluster_runs_jobs_detects_a_dead_slurmd_and_is_destroyed(server_factory, docker_client):
    server = server_factory(env=FAST).start()
    http = server.http()
    http.timeout = 600  # actions answer when their playbook run is over

    path, view, _ = launch_until_ready(http, "slurm", "22.05", {"size": SIZE, "cpu": 0.5, "mem": MEM})
    dn = view["dn"]

    # Every compute node is registered and idle; none other is in the partition.
    assert sinfo_states(docker_client, server, dn) == {n: "idle" for n in COMPUTES}
    # slurm.conf took each node's size from the launch options (0.5 core counts as 1 CPU).
    code, out = run(docker_client, server, dn, "controller", ["scontrol", "show", "node", COMPUTES[0]])
    assert f"RealMemory={MEM} " in out and "CPUTot=1 " in out, out

    # The bundle's own proof workload (its tests/, as `bdp products test` runs them).
    bundle_tests(server, dn, REPO / "products" / "slurm" / "22.05")

    # srun across every compute node prints each one's name.
    code, out = run(docker_client, server, dn, "controller", ["srun", "-N", str(SIZE), "hostname"])
    assert code == 0, out
    assert sorted(out.split()) == COMPUTES

    # A batch job (a step on every node) completes; its output is on its batch host.
    code, out = run(docker_client, server, dn, "controller",
                    ["sh", "-c", "cd /tmp && sbatch --parsable --wait -N %d --wrap 'srun hostname'" % SIZE])
    assert code == 0, out
    job = out.split()[-1]
    code, out = run(docker_client, server, dn, "controller", ["scontrol", "show", "job", job])
    assert "JobState=COMPLETED" in out, out
    batch_host = out.split("BatchHost=", 1)[1].split()[0]
    code, out = run(docker_client, server, dn, batch_host, ["cat", f"/tmp/slurm-{job}.out"])
    assert code == 0 and sorted(out.split()) == COMPUTES, out

    # The munge key is the cluster's own (same on every node, not the image's: it has none).
    keys = {run(docker_client, server, dn, n, ["sha256sum", "/etc/munge/munge.key"])[1].split()[0]
            for n in ["controller", *COMPUTES]}
    assert len(keys) == 1

    # slurmd dies on one compute node: the status action fails and names it.
    code, out = run(docker_client, server, dn, COMPUTES[-1], ["sh", "-c", "kill $(cat /run/slurmd.pid)"])
    assert code == 0, out
    result = action(http, path, "status")
    assert result["result"] == "failed" and result["status"] == "stopped", result
    assert COMPUTES[-1] in result["reason"] and "slurmd" in result["reason"], result["reason"]

    # restart (stop + start) brings the cluster back to ready, and jobs run again.
    result = action(http, path, "restart")
    assert result["result"] == "successful" and result["status"] == "ready", result
    code, out = run(docker_client, server, dn, "controller", ["srun", "-N", str(SIZE), "hostname"])
    assert code == 0 and sorted(out.split()) == COMPUTES, out

    destroy_and_check(http, docker_client, server, path, dn)

"""Slurm 22.05 bundle, end to end: launched through the REST API of a real `bdp server`
(framework + orchestrator on the local Docker Engine), used as a user would use it, checked
by the `status` action after a daemon dies, repaired by `restart`; then its day-2 life
(issue 12): a compute node killed out of band degrades its health, `replace` (with the
server killed -9 in the middle) brings it back, resize 2 -> 4 -> 2 with a job running on a
leaving node; then destroyed."""
from __future__ import annotations

import time

import pytest

from support.common import REPO, wait_for
from support.operations import queue, run_op, wait_op
from support.products import (
    FAST,
    action,
    bundle_tests,
    destroy_and_check,
    launch_until_ready,
    node_container,
    run,
)

SIZE = 2
MEM = 320
COMPUTES = [f"compute{i}" for i in range(1, SIZE + 1)]
# A dead node of this auto_replace cluster is replaced after 5 s.
DAY2 = {**FAST, "BDP_REPLACE_GRACE": "5"}


def sinfo_states(docker_client, server, dn: str) -> dict[str, str]:
    code, out = run(docker_client, server, dn, "controller", ["sinfo", "--noheader", "--Node", "--format", "%N %t"])
    assert code == 0, out
    return dict(line.split() for line in out.splitlines() if line.strip())


@pytest.mark.timeout(1800)
@pytest.mark.usefixtures("bystander")  # another platform's cluster of the same dn
def test_slurm_cluster_runs_jobs_detects_a_dead_slurmd_and_is_destroyed(server_factory, docker_client):
    server = server_factory(env=DAY2).start()
    http = server.http()

    # auto_replace: a dead node is replaced by the platform after BDP_REPLACE_GRACE (see day2).
    path, view, _ = launch_until_ready(http, "slurm", "22.05", {"size": SIZE, "cpu": 0.5, "mem": MEM,
                                                                "auto_replace": True})
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

    server = day2(server_factory, server, docker_client, path, dn)
    destroy_and_check(server.http(), docker_client, server, path, dn)


def day2(server_factory, server, docker_client, path: str, dn: str):
    """A dead node replaced by the platform itself (auto_replace; the server killed -9 while
    it rejoins), then grow to 4 and shrink to 2 while a job runs on a leaving node.
    Returns the server now serving."""
    http = server.http()
    # compute2's container is killed out of band: health degraded within 10 s naming it,
    # while the cluster stays ready (compute1 still takes jobs).
    node_container(docker_client, server, dn, COMPUTES[-1]).kill()
    killed = time.monotonic()
    view = wait_for(lambda: (v := http.get(path).json())["health"]["status"] == "degraded" and v, 20,
                    interval=0.25, message="health degraded")
    print(f"health degraded {time.monotonic() - killed:.1f}s after the kill")
    assert time.monotonic() - killed <= 10
    assert view["status"] == "ready" and [p["node"] for p in view["health"]["problems"]] == [COMPUTES[-1]]
    assert COMPUTES[-1] in view["health"]["problems"][0]["reason"]

    # Nobody asks: after BDP_REPLACE_GRACE the platform queues a replace of compute2 by
    # itself. The server is killed -9 while the node rejoins; the next one finishes it.
    job = wait_for(lambda: next((o for o in http.get(path + "/operations").json()["operations"]
                                 if o["op"] == "replace"), None), 90, interval=1, message="the platform's replace")
    assert job["who"] == "platform (auto_replace)" and job["params"] == {"nodes": [COMPUTES[-1]]}
    wait_for(lambda: http.get(job["uri"].split("/v1", 1)[1]).json()["step"] == "running the playbook (start)",
             240, message="the replaced node rejoins")
    server.kill9()
    server = server_factory(server.data_dir, env=DAY2).start()
    http = server.http()
    done = wait_op(http, job, 400)
    assert done["status"] == "succeeded", done
    assert http.get(path).json()["health"] == {"status": "healthy", "problems": []}
    code, out = run(docker_client, server, dn, "controller", ["srun", "-N", str(SIZE), "hostname"])
    assert code == 0 and sorted(out.split()) == COMPUTES, out

    # Grow to 4: sinfo lists four idle compute nodes.
    done = run_op(http, path, "resize", 600, options={"size": 4})
    assert done["status"] == "succeeded" and done["result"]["added"] == ["compute3", "compute4"], done
    four = [f"compute{i}" for i in range(1, 5)]
    assert sinfo_states(docker_client, server, dn) == {n: "idle" for n in four}

    # Shrink to 2 while a job runs on compute4: the node drains, the job finishes, and
    # only then does its container go.
    code, out = run(docker_client, server, dn, "controller",
                    ["sbatch", "--parsable", "-w", "compute4", "-o", "/dev/null", "--wrap", "sleep 20"])
    assert code == 0, out
    job_id = out.split()[-1]
    wait_for(lambda: "JobState=RUNNING" in run(docker_client, server, dn, "controller",
                                               ["scontrol", "show", "job", job_id])[1], 60, message="the job runs")
    shrink = queue(http, path, "resize", options={"size": 2})
    wait_for(lambda: sinfo_states(docker_client, server, dn).get("compute4") in ("drng", "drain"), 120,
             interval=0.5, message="compute4 drains")
    assert node_container(docker_client, server, dn, "compute4").status == "running"  # its job runs on
    done = wait_op(http, shrink, 600)
    assert done["status"] == "succeeded" and done["result"]["removed"] == ["compute3", "compute4"], done
    code, out = run(docker_client, server, dn, "controller", ["scontrol", "show", "job", job_id])
    assert "JobState=COMPLETED" in out and "ExitCode=0:0" in out, out
    assert sinfo_states(docker_client, server, dn) == {n: "idle" for n in COMPUTES}
    assert [n["name"] for n in http.get(path + "/nodes").json()["nodes"]] == ["controller", *COMPUTES]
    return server

"""A playbook run gets an environment built for it (issue 11, finding 6): none of the
server's secrets reach the run, its artifacts or its Run row, and run directories a
killed process left behind are removed at start. Real ansible-runner and
ansible-playbook on a local connection; no Docker."""
from __future__ import annotations

import threading
from pathlib import Path

from api.clusters.keys import private_key_path
from api.core.models import Cluster, Product, Run, User
from api.orchestrator.runner import PlaybookRunner, remove_finished_run_dirs

SECRETS = {"BDP_ADMIN_TOKEN": "admin-token-SECRET-1111", "BDP_DATABASE_URL": "postgresql://bdp:pw-SECRET-2222@db/bdp",
           "BDP_TOKEN": "user-token-SECRET-3333", "AWS_SECRET_ACCESS_KEY": "cloud-SECRET-4444"}

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: look around
      tags: [start]
      ansible.builtin.shell: |
        env > {out}/env.txt
        cp -r {{{{ playbook_dir }}}}/../artifacts {out}/artifacts
        env
"""


def test_no_secret_of_the_server_reaches_a_run(platform, tmp_path, monkeypatch):
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "seen"
    out.mkdir()
    product = Product.create(name="local", version="1", orchestrator=PLAYBOOK.format(out=out).encode())
    cluster = Cluster.create(user=User.create(name="alice"), product=product, seq=1, status="configuring")
    key = private_key_path(platform.settings, cluster.id)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("not a real key\n")
    result = PlaybookRunner(platform.settings, "test-owner", threading.Event()).run(cluster, "start")
    assert result.ok, result.reason
    env = (out / "env.txt").read_text()
    assert "ANSIBLE_ROLES_PATH=" in env and "PATH=" in env  # what the run needs is there
    seen = [env, *(p.read_text(errors="replace") for p in (out / "artifacts").rglob("*") if p.is_file())]
    assert any('"command"' in text for text in seen)  # ansible-runner's record of the run, env included
    run = Run.get_by_id(result.run.id)
    seen += [run.stdout, str(run.events), run.summary]
    for text in seen:
        for value in SECRETS.values():
            assert value not in text
    # The run's directory goes with the run.
    assert not (platform.settings.runs_dir / str(cluster.id) / str(run.id)).exists()


def test_run_directories_a_killed_process_left_are_removed_at_start(platform):
    product = Product.create(name="p", version="1")
    cluster = Cluster.create(user=User.create(name="bob"), product=product, seq=1, status="configuring")
    done = Run.create(cluster=cluster, action="start", status="failed")
    running = Run.create(cluster=cluster, action="start", status="running")
    runs: Path = platform.settings.runs_dir
    for run in (done, running):
        (runs / str(cluster.id) / str(run.id) / "artifacts").mkdir(parents=True)
    (runs / "junk").mkdir()
    (runs / "junk" / "7").mkdir()
    assert remove_finished_run_dirs(runs) == 2
    assert not (runs / str(cluster.id) / str(done.id)).exists()
    assert (runs / str(cluster.id) / str(running.id)).exists()  # its cluster's next claim deals with it

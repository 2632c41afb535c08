"""docs/product-guide.md's author's loop, run as written (sections 9 and 10).

Every `$` line of the guide's `console` blocks runs, in order, in one bash, against a real
`bdp server`; `$ ! cmd` must fail, every other command must succeed, and each output line
the guide shows under a command (but lines with "...") must be in that command's output.
The guide's /tmp/guide-products becomes a directory of the test's own."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from support.common import ADMIN_TOKEN, REPO
from support.products import FAST

GUIDE = REPO / "docs" / "product-guide.md"
SECTIONS = ("## 9.", "## 11.")  # from the author's loop to before Testing


def steps(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) of every `$` line in the console blocks."""
    start, end = (text.index(marker) for marker in SECTIONS)
    found = []
    for block in re.findall(r"```console\n(.*?)```", text[start:end], flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                found.append((line[2:], []))
            elif found and line.strip() and "..." not in line:
                found[-1][1].append(line.strip())
    return found


def test_the_guide_lists_the_whole_loop():
    commands = [c for c, _ in steps(GUIDE.read_text())]
    for needed in ("bdp products lint", "bdp products render", "bdp products load /tmp/guide-products --build",
                   "bdp products test", "ansible-playbook -i", "bdp destroy"):
        assert any(needed in c for c in commands), needed


@pytest.mark.timeout(1500)
def test_every_command_of_the_authors_loop_runs_as_written(server_factory, tmp_path, request):
    server = server_factory(env=FAST).start()
    work = tmp_path / "guide-products"
    # A short HOME: ansible's ssh ControlPath lives under it, and a Unix socket path has
    # at most 108 bytes (tmp_path on a pytest-xdist worker is longer than that allows).
    home = Path(tempfile.mkdtemp(prefix="bdpguide", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    (home / ".ssh").mkdir(parents=True)
    commands = [(c.replace("/tmp/guide-products", str(work)), [e.replace("/tmp/guide-products", str(work)) for e in out])
                for c, out in steps(GUIDE.read_text())]
    script = ["exec </dev/null"]
    for i, (command, _) in enumerate(commands):
        body = command[2:] if command.startswith("! ") else command
        script.append(f"{{ {body} ; }} > {tmp_path}/out.{i} 2>&1; echo $? > {tmp_path}/rc.{i}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BDP_")}
    env.update(HOME=str(home), BDP_URL=server.url, BDP_TOKEN=ADMIN_TOKEN,
               BDP_CONFIG=str(home / ".config/bdp/config.json"),
               PATH=f"{os.path.dirname(sys.executable)}:{env.get('PATH', '/usr/bin:/bin')}")
    subprocess.run(["bash", "-c", "\n".join(script)], cwd=REPO, env=env, timeout=1400)
    for i, (command, expected) in enumerate(commands):
        rc_file = tmp_path / f"rc.{i}"
        assert rc_file.exists(), f"never ran: {command}"
        rc, out = int(rc_file.read_text()), (tmp_path / f"out.{i}").read_text()
        should_fail = command.startswith("! ")
        assert (rc != 0) == should_fail, f"$ {command}\nexit {rc}\n{out[-3000:]}"
        for line in expected:
            assert line in out, f"$ {command}\nexpected {line!r} in:\n{out[-3000:]}"

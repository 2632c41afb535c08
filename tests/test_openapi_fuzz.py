"""The OpenAPI document is the truth about the API (issue 11, finding 7): schemathesis
(pinned in the test extra) runs against a real `bdp server`, as a user and as the
admin, and finds no server error, no status the document does not list and no answer
that breaks its schema. Bounded: a few examples per operation and a time budget.

One exception, said here: `.../template` answers the raw Jinja2 text with the seed's
Content-Type (application/json or application/yaml), which is a template, not JSON, so
its answers get every check but the JSON schema one, in a run of their own.

The server runs with no Docker Engine it can reach, on purpose: fuzzed launches and
network definitions then only ever exercise the API and the registry, and nothing the
fuzzer sends can start a container on this machine.

Not fuzzed: POST /hosts. Registering a host connects to the URL it names (tcp://, or
ssh:// through the ssh binary), and a fuzzer's URLs would send traffic to addresses
nobody chose; its input checks are tests/test_hosts_registry.py's.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.common import ADMIN_TOKEN
from support.server import ServerProcess

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]  # a whole server and a long run: with the slow tests
ALL_CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
RAW_CHECKS = "not_a_server_error,status_code_conformance"
RAW = "/template$"
UNFUZZED = ["--exclude-name", "POST /bigdata/api/v1/hosts"]
# Seconds of fuzzing per run: ~100 cases a second, so 30 s give every operation of the
# document far more than it needs (a run stops on the budget, not on a case count); the
# template run has two operations.
BUDGET, RAW_BUDGET = 30, 8


def schemathesis(server: ServerProcess, token: str, tmp_path: Path, name: str, checks: str,
                 selection: list[str], budget: int = BUDGET) -> tuple[int, int]:
    """Run schemathesis; returns how many operations it tested, of how many it read."""
    cli = Path(sys.executable).parent / "schemathesis"
    done = subprocess.run(
        [str(cli), "run", f"{server.url}/bigdata/api/v1/openapi.json", "-H", f"x-auth-token: {token}",
         "-c", checks, *selection, "--max-examples", "8", "--max-time", str(budget), "--workers", "1",
         "--phases", "examples,coverage,fuzzing", "--no-shrink", "--seed", "11", "--request-timeout", "20"],
        cwd=tmp_path, capture_output=True, text=True, timeout=budget * 3 + 60)
    (tmp_path / f"{name}.log").write_text(done.stdout + done.stderr)
    out = done.stdout
    assert done.returncode == 0, out[-6000:] + done.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", out)
    assert counts and counts.group(1) == counts.group(2), out[-3000:]  # every case passed every check
    selected = re.search(r"Selected: (\d+)/(\d+)\s+Tested: (\d+)", out)
    assert selected and selected.group(1) == selected.group(3), out[-3000:]
    assert int(counts.group(1)) > 10 * int(selected.group(3)), out[-3000:]
    return int(selected.group(3)), int(selected.group(2))


def test_no_server_errors_no_undocumented_statuses_no_schema_violations(tmp_path):
    server = ServerProcess(tmp_path / "data", env={"DOCKER_HOST": "unix:///nonexistent/no-engine.sock"})
    try:
        server.start()
        with server.http() as http:
            assert http.post("/users", json={"name": "fuzz"}).status_code == 201
            user_token = http.post("/users/fuzz/tokens", json={"name": "fuzz"}).json()["token"]
            paths = http.get("/openapi.json").json()["paths"]
        operations = sum(len(ops) for ops in paths.values())
        raw = sum(len(ops) for path, ops in paths.items() if re.search(RAW, path))
        assert operations > 40 and raw == 2
        for name, token in (("user", user_token), ("admin", ADMIN_TOKEN)):
            tested, total = schemathesis(server, token, tmp_path, name, ALL_CHECKS,
                                         ["--exclude-path-regex", RAW, *UNFUZZED])
            # schemathesis reads GET /users/me as an instance of GET /users/{name}: one fewer.
            assert tested == total - raw - 1 and total == operations - 1
            tested, _ = schemathesis(server, token, tmp_path, f"{name}-raw", RAW_CHECKS,
                                     ["--include-path-regex", RAW], RAW_BUDGET)
            assert tested == raw
        assert "unhandled error on" not in server.log(), server.log()  # api/http/errors.py's 500
    finally:
        server.stop()

"""A product's orchestrator (its playbook and roles) as Ansible sees it.

`write_project` lays the stored orchestrator out as an ansible-runner project; `check`
asks ansible-playbook itself whether the playbook loads with the bundle's and the
platform's shared roles (syntax, every role and import resolves) and carries the four
tags the platform runs. PUT .../orchestrator, bundle loading and `bdp products lint` all
use it, so a playbook that cannot run is refused before a cluster finds out.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from api.catalog.findings import Finding
from api.core.config import REPO_ROOT
from api.core.errors import Invalid

SHARED_ROLES = REPO_ROOT / "roles"
REQUIRED_TAGS = ("start", "stop", "restart", "status")
CHECK_TIMEOUT = 60  # seconds; loading a playbook takes about one
_ORIGIN = re.compile(r"Origin: (?:.*/project/)?(?P<file>[^:]+):(?P<line>\d+)")


def write_orchestrator(data: bytes, fmt: str, project: Path) -> None:
    """Stored orchestrator bytes (playbook YAML, or a tar.gz with playbook.yml) as files."""
    project.mkdir(parents=True, exist_ok=True)
    if fmt == "tar.gz":
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            # The "data" filter refuses absolute paths, links out of the tree and devices.
            tar.extractall(project, filter="data")
        if not (project / "playbook.yml").exists():
            raise RuntimeError("the orchestrator bundle has no playbook.yml")
    else:
        (project / "playbook.yml").write_bytes(data)


def write_project(product, project: Path, products_dir: Path) -> None:
    """The product's orchestrator as an ansible-runner project directory.

    Product.orchestrator holds a playbook (YAML) or a tar.gz bundle (playbook.yml,
    roles/, files/); without one, the bundle directory products/<name>/<version>/ is used.
    """
    if product.orchestrator:
        write_orchestrator(bytes(product.orchestrator), product.orchestrator_format, project)
        return
    source = Path(products_dir) / product.name / product.version
    if not (source / "playbook.yml").exists():
        raise RuntimeError(f"product {product.name} {product.version} has no playbook "
                           f"(PUT .../orchestrator, or {source}/playbook.yml)")
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "playbook.yml", project / "playbook.yml")
    for sub in ("roles", "files", "templates"):
        if (source / sub).is_dir():
            shutil.copytree(source / sub, project / sub, dirs_exist_ok=True)


def _ansible_env(project: Path) -> dict:
    # Built for the check, not inherited: nothing of the server's environment reaches it.
    return {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/bin", "/bin"]),
            "HOME": str(project), "LANG": "C.UTF-8", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_ROLES_PATH": f"{project / 'roles'}:{SHARED_ROLES}",
            "ANSIBLE_LOCAL_TEMP": str(project / ".tmp"), "ANSIBLE_DEPRECATION_WARNINGS": "0"}


def check_project(project: Path) -> list[Finding]:
    """What ansible-playbook says of project/playbook.yml: load errors (file and line from
    its Origin), and the platform's tags it lacks."""
    ansible = Path(sys.executable).parent / "ansible-playbook"
    try:
        done = subprocess.run([str(ansible), "-i", "localhost,", "--list-tags", "playbook.yml"],
                              cwd=project, env=_ansible_env(project), capture_output=True, text=True,
                              timeout=CHECK_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Finding("playbook.yml", None, f"ansible-playbook could not check it: {exc}")]
    output = done.stdout + done.stderr
    if done.returncode != 0:
        lines = output.splitlines()
        error = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("[ERROR]:")),
                     next((ln[6:].strip() for ln in lines if ln.startswith("ERROR!")), output.strip()[-300:]))
        origin = _ORIGIN.search(output)
        file, line = (origin.group("file"), int(origin.group("line"))) if origin else ("playbook.yml", None)
        return [Finding(file, line, error)]
    tags = set()
    for match in re.finditer(r"TASK TAGS: \[([^\]]*)\]", output):
        tags.update(t.strip() for t in match.group(1).split(",") if t.strip())
    missing = [t for t in REQUIRED_TAGS if t not in tags]
    if missing:
        return [Finding("playbook.yml", None, f"no play or task is tagged {', '.join(missing)}; the "
                        f"platform runs the playbook with tags {', '.join(REQUIRED_TAGS)}")]
    return []


def _cache_key(data: bytes, fmt: str) -> str:
    """The check depends only on the orchestrator's bytes and the shared roles' files."""
    h = hashlib.sha256(fmt.encode() + b"\0" + data)
    for path in sorted(SHARED_ROLES.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(SHARED_ROLES)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bdp" / "playbook-checks"


def check(data: bytes, fmt: str) -> list[Finding]:
    # Passing checks are remembered (a second ansible-playbook run per bundle at every
    # server start would cost a second or two each); failures are always checked afresh.
    key = _cache_key(data, fmt)
    passed = _cache_dir() / key
    if passed.exists():
        return []
    with tempfile.TemporaryDirectory(prefix="bdp-playbook-") as tmp:
        project = Path(tmp) / "project"
        write_orchestrator(data, fmt, project)
        findings = check_project(project)
    if not findings:
        try:
            passed.parent.mkdir(parents=True, exist_ok=True)
            passed.touch()
        except OSError:  # a read-only home: check every time
            pass
    return findings


def check_runnable(data: bytes, fmt: str) -> None:
    """Invalid (field `orchestrator`) naming the first thing that stops the playbook running."""
    findings = check(data, fmt)
    if findings:
        raise Invalid(f"the orchestrator cannot run: {findings[0]}", field="orchestrator")

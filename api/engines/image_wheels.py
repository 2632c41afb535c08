"""Python packages a product image installs, fetched on the host before its build.

Image builds cannot always reach PyPI themselves (air-gapped sites; TLS-intercepting
proxies whose CA only the host trusts), so a bundle that needs PyPI packages lists them
in ``image/wheels.txt`` (pip requirement lines) and its Dockerfile installs them from
``image/wheels/`` with ``pip install --no-index --find-links``. Before building, the host
runs ``pip wheel`` into that directory (an sdist becomes a wheel here, so the image needs
no build tools). ``wheels/.fetched`` records the hash of the requirements fetched, so
later builds do not go online at all; a site without PyPI places the wheels there by hand
and writes that file (or runs ``bdp images build`` once on a connected host and copies
the bundle).
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = "wheels.txt"
WHEELS_DIR = "wheels"
MARKER = ".fetched"
FETCH_TIMEOUT = 1800  # seconds; pyspark alone is ~450 MB


class WheelFetchError(RuntimeError):
    """pip could not fetch or build the listed packages; the message ends with its output."""


def requirements_digest(context_dir) -> str | None:
    path = Path(context_dir) / REQUIREMENTS
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetched(context_dir) -> bool:
    """True when the context needs no wheels or already holds those of wheels.txt."""
    digest = requirements_digest(context_dir)
    if digest is None:
        return True
    marker = Path(context_dir) / WHEELS_DIR / MARKER
    return marker.is_file() and marker.read_text().strip() == digest


def fetch_wheels(context_dir, log=print) -> bool:
    """Fetch the wheels of ``<context_dir>/wheels.txt`` into ``<context_dir>/wheels/``
    unless already done. Returns True when pip ran."""
    context_dir = Path(context_dir)
    if fetched(context_dir):
        return False
    wheels = context_dir / WHEELS_DIR
    wheels.mkdir(exist_ok=True)
    log(f"fetching Python packages of {context_dir / REQUIREMENTS} into {wheels}")
    # --find-links: distributions already placed there (an sdist copied by hand) are
    # used instead of downloading them again.
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels),
           "--find-links", str(wheels), "-r", str(context_dir / REQUIREMENTS)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=FETCH_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise WheelFetchError(f"pip wheel took longer than {FETCH_TIMEOUT}s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise WheelFetchError(f"pip wheel failed ({proc.returncode}):\n{tail}")
    (wheels / MARKER).write_text(requirements_digest(context_dir) + "\n")
    return True

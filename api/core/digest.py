"""Digests of directory trees: what a bundle's image/ directory was when an image was
built from it, so a launch can tell an image older than its bundle."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def tree_digest(root, extra: dict | None = None) -> str:
    """sha256 of every path, mode and content under `root` (and `extra`, e.g. build args)."""
    h = hashlib.sha256()
    feed_tree(h, root, extra)
    return h.hexdigest()


def feed_tree(h, root, extra: dict | None = None) -> None:
    """Feed a tree into a running hash (image builds add their FROM image ids after it)."""
    root = Path(root)
    for path in sorted(p for p in root.rglob("*") if "__pycache__" not in p.parts):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            h.update(f"L {rel} {os.readlink(path)}\n".encode())
        elif path.is_file():
            h.update(f"F {rel} {path.stat().st_mode & 0o777:o}\n".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())
        elif path.is_dir():
            h.update(f"D {rel}\n".encode())
    h.update(json.dumps(extra or {}, sort_keys=True).encode())

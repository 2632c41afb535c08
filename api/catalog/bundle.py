"""Product bundles on disk (`products/<name>/<version>/`): reading one into a `Bundle`
and storing it in the registry (server start-up), with the same checks as the API."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from api.catalog import day2, playbook, template
from api.catalog import options as opts
from api.catalog.product import (
    ORCHESTRATOR_DIRS,
    TEMPLATE_FILES,
    _touch,
    check_name,
    check_orchestrator,
    check_template,
)
from api.core import privileges
from api.core.digest import tree_digest
from api.core.errors import DomainError
from api.core.models import Product, State, db

log = logging.getLogger("bdp.products")

# product.yml's `format`: 1 (or none, the bundles written before formats) types options by
# their documented values only; 2 lets options.json carry "schema" (api/catalog/options.py).
FORMATS = (1, 2)


@dataclass
class Bundle:
    path: Path
    name: str
    version: str
    description: str = ""
    logo_url: str = ""
    options: dict | None = None
    template: str | None = None
    template_format: str = "json"
    orchestrator: bytes | None = None
    orchestrator_format: str = "yaml"
    image: str = ""
    image_hash: str = ""  # of image/ (api/core/digest.py): a launch tells an image older than it
    privileges: dict | None = None  # product.yml's `privileges:` (api/core/privileges.py)
    day2: dict = field(default_factory=dict)  # resize, auto_replace, lifetime (api/catalog/day2.py)
    format: int = 1
    digest: str = field(default="")


def _tarball(root: Path) -> bytes:
    """A reproducible tar.gz of the playbook and its roles/files (same input, same bytes)."""
    buf = io.BytesIO()
    paths = [root / "playbook.yml"]
    for name in ORCHESTRATOR_DIRS:
        if (root / name).is_dir():
            paths.append(root / name)
            paths.extend(sorted(p for p in (root / name).rglob("*") if "__pycache__" not in p.parts))
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for p in paths:
            info = tar.gettarinfo(str(p), arcname=str(p.relative_to(root)))
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isfile():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buf.getvalue()


def load_bundle(path: Path) -> Bundle:
    """Read a bundle directory; raises ValueError with a readable message when broken."""
    path = Path(path)
    try:
        meta = yaml.safe_load((path / "product.yml").read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}/product.yml: {e}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}/product.yml must be a mapping")
    bundle_format = meta.get("format", 1)
    if type(bundle_format) is not int or bundle_format not in FORMATS:  # `true`, 2.0, "2" are not
        raise ValueError(f"{path}/product.yml: unknown format {bundle_format!r}; this platform "
                         f"reads format {' and '.join(map(str, FORMATS))}")
    name, version = str(meta.get("name") or path.parent.name), str(meta.get("version") or path.name)
    b = Bundle(path=path, name=name, version=version, description=str(meta.get("description") or ""),
               logo_url=str(meta.get("logo_url") or ""), format=bundle_format,
               privileges=meta.get("privileges"),
               day2={k: meta[k] for k in day2.KEYS if k in meta})
    if (path / "options.json").exists():
        try:
            b.options = json.loads((path / "options.json").read_text())
        except ValueError as e:
            raise ValueError(f"{path}/options.json: {e}") from None
        if bundle_format < 2 and isinstance(b.options, dict) and "schema" in b.options:
            raise ValueError(f"{path}/options.json: 'schema' needs 'format: 2' in product.yml")
    for filename, fmt in TEMPLATE_FILES.items():
        if (path / filename).exists():
            b.template, b.template_format = (path / filename).read_text(), fmt
            break
    if (path / "playbook.yml").exists():
        if any((path / d).is_dir() for d in ORCHESTRATOR_DIRS):
            b.orchestrator, b.orchestrator_format = _tarball(path), "tar.gz"
        else:
            b.orchestrator, b.orchestrator_format = (path / "playbook.yml").read_bytes(), "yaml"
    if (path / "image" / "Dockerfile").exists():
        b.image = f"bdp/{name}:{version}"
        b.image_hash = tree_digest(path / "image")
    h = hashlib.sha256()
    for part in (name, version, b.description, b.logo_url, json.dumps(b.options, sort_keys=True),
                 b.template or "", b.template_format, b.orchestrator_format, b.image, b.image_hash,
                 json.dumps(b.privileges, sort_keys=True), json.dumps(b.day2, sort_keys=True)):
        h.update(part.encode() + b"\0")
    h.update(b.orchestrator or b"")
    b.digest = h.hexdigest()
    return b


def find_bundles(root: Path) -> list[Path]:
    """Every bundle directory (one holding product.yml) at or under `root`."""
    root = Path(root)
    if (root / "product.yml").exists():
        return [root]
    return sorted(p.parent for p in root.rglob("product.yml"))


def _load_error(where: Path, e: DomainError) -> ValueError:
    return ValueError(f"{where}: {e.message}" + (f" (field {e.field})" if e.field else ""))


def sync_bundle(b: Bundle) -> str:
    """Store a bundle directly in the registry (server start-up). Returns what happened.

    A bundle is written when it is new or its files changed since the last load, so
    changes an admin made over the API survive a restart of an unchanged bundle.
    """
    key = f"bundle:{b.name}/{b.version}"
    product = Product.get_or_none((Product.name == b.name) & (Product.version == b.version))
    last = State.get_or_none(State.key == key)
    if product is not None and last is not None and last.value == b.digest:
        return "unchanged"
    try:
        doc = opts.check_document(b.options) if b.options is not None else None
    except DomainError as e:  # the options document's own errors name its file
        raise _load_error(b.path / "options.json", e) from None
    try:
        grants = privileges.check(b.privileges)
        declared = day2.check(b.day2)
        if b.template is not None:
            check_template(b.template, b.template_format, doc, b.name, b.version, grants)
        if b.orchestrator is not None:
            check_orchestrator(b.orchestrator, "application/gzip" if b.orchestrator_format == "tar.gz"
                               else "application/yaml")
            playbook.check_runnable(b.orchestrator, b.orchestrator_format)
        check_name(b.name, "name")
        check_name(b.version, "version")
    except DomainError as e:
        raise _load_error(b.path, e) from None
    fields = dict(description=b.description, logo_url=b.logo_url, options=doc, template=b.template,
                  template_format=b.template_format, orchestrator=b.orchestrator,
                  orchestrator_format=b.orchestrator_format, image=b.image, image_hash=b.image_hash,
                  privileges=grants, day2=declared)
    with db.atomic():
        if product is None:
            Product.create(name=b.name, version=b.version, **fields)
            result = "created"
        else:
            template.forget(product.template)
            _touch(product, **fields)
            result = "updated"
        State.insert(key=key, value=b.digest).on_conflict(
            conflict_target=[State.key], update={State.value: b.digest}).execute()
    return result


def sync_bundles(root: Path) -> dict[str, str]:
    """Load every bundle under `root`; a broken bundle is logged and skipped."""
    results = {}
    if not Path(root).is_dir():
        log.warning("products directory %s does not exist; no bundled products loaded", root)
        return results
    for path in find_bundles(root):
        try:
            b = load_bundle(path)
            results[f"{b.name}/{b.version}"] = sync_bundle(b)
        except ValueError as e:
            log.error("product bundle not loaded: %s", e)
            results[str(path)] = f"error: {e}"
    return results

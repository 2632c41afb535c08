"""The product catalog: creating, checking and updating products, and loading the
product bundles on disk (`products/<name>/<version>/`)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml
from peewee import fn
from pydantic import ValidationError

from . import options as opts
from . import status
from . import template
from .config import API_PREFIX
from .errors import APIError, bad_request, conflict, not_found
from .models import Cluster, Product, State, db, utcnow
from .schemas import ProductCreate

log = logging.getLogger("bdp.products")

TEMPLATE_FILES = {"template.json.j2": "json", "template.yaml.j2": "yaml"}
# What a bundle's orchestrator tarball carries besides playbook.yml.
ORCHESTRATOR_DIRS = ("roles", "files", "templates", "vars", "group_vars", "host_vars", "library")
MAX_ORCHESTRATOR = 64 * 1024 * 1024
TAR_TYPES = {"application/gzip", "application/x-gzip", "application/x-tar",
             "application/x-compressed-tar", "application/tar+gzip", "application/tar"}
TEMPLATE_TYPES = {"application/json": "json", "application/yaml": "yaml",
                  "application/x-yaml": "yaml", "text/yaml": "yaml", "text/x-yaml": "yaml"}


def uri(product: Product) -> str:
    return f"{API_PREFIX}/products/{product.name}/{product.version}"


# The orchestrator may be a large tarball: only its size is read unless it is asked for.
_LIGHT = [f for f in Product._meta.sorted_fields if f is not Product.orchestrator]


def get(name: str, version: str, with_orchestrator: bool = False) -> Product:
    fields = Product._meta.sorted_fields if with_orchestrator else [
        *_LIGHT, fn.LENGTH(Product.orchestrator).alias("orchestrator_size")]
    product = Product.select(*fields).where((Product.name == name) & (Product.version == version)).first()
    if product is None:
        raise not_found(f"no product {name} {version}")
    return product


def _has_orchestrator(p: Product) -> bool:
    size = getattr(p, "orchestrator_size", None)
    return p.orchestrator is not None or size is not None


def view(p: Product) -> dict:
    return {"name": p.name, "version": p.version, "description": p.description,
            "logo_url": p.logo_url, "uri": uri(p), "options": p.options,
            "template_format": p.template_format if p.template else None,
            "orchestrator_format": p.orchestrator_format if _has_orchestrator(p) else None,
            "created": p.created.isoformat(), "updated": p.updated.isoformat()}


# --- checks -------------------------------------------------------------------------

def check_logo_url(url: str) -> str:
    url = (url or "").strip()
    if url and not url.startswith(("http://", "https://", "data:image/", "/")):
        raise bad_request("logo_url must be an http(s) URL, a data:image URL or a path", field="logo_url")
    return url


def check_template(source: str, fmt: str, options_doc: dict | None, name: str, version: str) -> None:
    """Render with the product's defaults (required keys take their example values).

    Without an options document yet (the seed PUTs the template first) only the syntax
    can be checked; the options PUT then renders it in full.
    """
    values = opts.defaults(options_doc)
    try:
        if options_doc is None:
            template.compile_template(source)
            return
        template.render_document(source, fmt, template.sample_variables(values, "user", name, version))
    except template.TemplateError as e:
        raise bad_request(e.message, field=e.field or "template") from None


class _PlaybookLoader(yaml.SafeLoader):
    """Safe YAML that tolerates Ansible's own tags (!vault, !unsafe)."""


_PlaybookLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def check_playbook(text: bytes | str, where: str = "playbook") -> None:
    try:
        doc = yaml.load(text, Loader=_PlaybookLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise bad_request(f"{where} is not valid YAML at line {line}: {e.problem}",
                          field="orchestrator") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise bad_request(f"{where} is not valid YAML: {e}", field="orchestrator") from None
    if not isinstance(doc, list) or not all(isinstance(play, dict) for play in doc):
        raise bad_request(f"{where} must be a list of plays (an Ansible playbook)", field="orchestrator")


def check_orchestrator(data: bytes, content_type: str) -> tuple[bytes, str]:
    """Returns (bytes to store, format): playbook YAML, or a tar.gz with playbook.yml."""
    if not data:
        raise bad_request("the orchestrator body is empty", field="orchestrator")
    if content_type not in TAR_TYPES:
        check_playbook(data)
        return data, "yaml"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = tar.getmembers()
            for m in members:
                path = PurePosixPath(m.name)
                if path.is_absolute() or ".." in path.parts:
                    raise bad_request(f"archive member {m.name!r} points outside the archive",
                                      field="orchestrator")
                if not (m.isfile() or m.isdir() or m.issym()):
                    raise bad_request(f"archive member {m.name!r} is not a file or directory",
                                      field="orchestrator")
                if m.issym() and (m.linkname.startswith("/") or ".." in PurePosixPath(m.linkname).parts):
                    raise bad_request(f"archive link {m.name!r} points outside the archive",
                                      field="orchestrator")
            names = {str(PurePosixPath(m.name)): m for m in members}
            playbook = names.get("playbook.yml")
            if playbook is None or not playbook.isfile():
                raise bad_request("the orchestrator archive has no playbook.yml at its top level",
                                  field="orchestrator")
            check_playbook(tar.extractfile(playbook).read(), "playbook.yml in the archive")
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as e:
        raise bad_request(f"the orchestrator body is not a tar or tar.gz archive: {e}",
                          field="orchestrator") from None
    if data[:2] != b"\x1f\x8b":  # plain tar: keep one stored format
        data = gzip.compress(data, mtime=0)
    return data, "tar.gz"


# --- changes ------------------------------------------------------------------------

def _touch(product: Product, **fields) -> None:
    fields["updated"] = utcnow()
    Product.update(**fields).where(Product.id == product.id).execute()
    for key, value in fields.items():
        setattr(product, key, value)


def create(data: ProductCreate) -> Product:
    doc = opts.check_document(data.options) if data.options is not None else None
    if data.template is not None:
        check_template(data.template, data.template_format, doc, data.name, data.version)
    logo = check_logo_url(data.logo_url)
    with db.atomic():
        if Product.select().where((Product.name == data.name) & (Product.version == data.version)).exists():
            raise conflict(f"product {data.name} {data.version} exists; change it with PUT or PATCH",
                           field="version")
        return Product.create(name=data.name, version=data.version, description=data.description,
                              logo_url=logo, options=doc, template=data.template,
                              template_format=data.template_format)


def update(product: Product, *, description=None, logo_url=None, options=None, template_text=None,
           template_format=None) -> Product:
    """Change several parts at once; the template is checked against the options in force."""
    fields: dict = {}
    if description is not None:
        fields["description"] = description
    if logo_url is not None:
        fields["logo_url"] = check_logo_url(logo_url)
    doc = product.options
    if options is not None:
        doc = fields["options"] = opts.check_document(options)
    source = template_text if template_text is not None else product.template
    fmt = template_format or product.template_format
    if template_text is not None:
        fields["template"] = template_text
    if template_format is not None:
        fields["template_format"] = template_format
    if source is not None and (template_text is not None or options is not None or template_format):
        check_template(source, fmt, doc, product.name, product.version)
    if fields:
        template.forget(product.template)
        _touch(product, **fields)
    return product


def set_orchestrator(product: Product, data: bytes, content_type: str) -> None:
    stored, fmt = check_orchestrator(data, content_type)
    _touch(product, orchestrator=stored, orchestrator_format=fmt)
    product.orchestrator_size = len(stored)


def delete(product: Product) -> None:
    with db.atomic():
        live = (Cluster.select().where((Cluster.product == product) & (Cluster.status != status.DESTROYED))
                .count())
        if live:
            raise conflict(f"product {product.name} {product.version} has {live} cluster(s) not yet "
                           "destroyed; destroy them first")
        # Destroyed clusters are history of this product only: they go with it.
        Cluster.delete().where(Cluster.product == product).execute()
        product.delete_instance()
    template.forget(product.template)


# --- bundles on disk ----------------------------------------------------------------

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
    name, version = str(meta.get("name") or path.parent.name), str(meta.get("version") or path.name)
    b = Bundle(path=path, name=name, version=version, description=str(meta.get("description") or ""),
               logo_url=str(meta.get("logo_url") or ""))
    if (path / "options.json").exists():
        try:
            b.options = json.loads((path / "options.json").read_text())
        except ValueError as e:
            raise ValueError(f"{path}/options.json: {e}") from None
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
    h = hashlib.sha256()
    for part in (name, version, b.description, b.logo_url, json.dumps(b.options, sort_keys=True),
                 b.template or "", b.template_format, b.orchestrator_format, b.image):
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
        if b.template is not None:
            check_template(b.template, b.template_format, doc, b.name, b.version)
        if b.orchestrator is not None:
            check_orchestrator(b.orchestrator, "application/gzip" if b.orchestrator_format == "tar.gz"
                               else "application/yaml")
        ProductCreate(name=b.name, version=b.version, description=b.description)
    except APIError as e:
        raise ValueError(f"{b.path}: {e.message}" + (f" (field {e.field})" if e.field else "")) from None
    except ValidationError as e:
        raise ValueError(f"{b.path}: {e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']}") from None
    fields = dict(description=b.description, logo_url=b.logo_url, options=doc, template=b.template,
                  template_format=b.template_format, orchestrator=b.orchestrator,
                  orchestrator_format=b.orchestrator_format, image=b.image)
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

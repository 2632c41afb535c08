"""The product catalog: creating, checking, updating and deleting products.

Bundles on disk (`products/<name>/<version>/`) are read by `api/catalog/bundle.py`."""
from __future__ import annotations

import gzip
import io
import logging
import re
import tarfile
from pathlib import PurePosixPath

import yaml
from peewee import fn

from api.catalog import day2, playbook, template
from api.catalog import options as opts
from api.core import privileges as granted
from api.core import status
from api.core.config import API_PREFIX
from api.core.errors import Conflict, Invalid, NotFound
from api.core.models import Cluster, Product, db, utcnow

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
        raise NotFound(f"no product {name} {version}")
    return product


def _has_orchestrator(p: Product) -> bool:
    size = getattr(p, "orchestrator_size", None)
    return p.orchestrator is not None or size is not None


def view(p: Product) -> dict:
    return {"name": p.name, "version": p.version, "description": p.description,
            "logo_url": p.logo_url, "uri": uri(p), "options": p.options,
            "template_format": p.template_format if p.template else None,
            "orchestrator_format": p.orchestrator_format if _has_orchestrator(p) else None,
            "privileges": p.privileges or {}, "day2": day2.of(p),
            "created": p.created.isoformat(), "updated": p.updated.isoformat()}


# --- checks -------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")  # as document.Name


def check_name(value, field: str) -> str:
    """Product names and versions end up in URLs, container names and image tags."""
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise Invalid(f"{field} {value!r} must be 1-63 letters, digits, '.', '_' or '-', "
                      "starting with a letter or digit", field=field)
    return value


def check_image(image: str, product: Product) -> str:
    """A product's own node image is bdp/<name>:<version> (what the bundle's image/ builds)."""
    own = f"bdp/{product.name}:{product.version}"  # as bundle.load_bundle names it
    if image not in ("", own):
        raise Invalid(f"image must be {own} (the bundle's image/ directory builds it) or empty", field="image")
    return image


def check_logo_url(url: str) -> str:
    url = (url or "").strip()
    if url and not url.startswith(("http://", "https://", "data:image/", "/")):
        raise Invalid("logo_url must be an http(s) URL, a data:image URL or a path", field="logo_url")
    return url


def check_docker_opts(checked, privileges: dict | None) -> None:
    """Every node's docker_opts, by value, against the product's privileges: a 400
    naming the node, the option and the value."""
    allowed = set()  # nodes mostly share one value: each is parsed once
    for node_name, node in checked.nodes.items():
        if node.docker_opts in allowed:
            continue
        try:
            granted.parse(node.docker_opts, privileges)
        except granted.DockerOptsError as e:
            raise Invalid(f"node {node_name}: {e}", field=f"nodes.{node_name}.docker_opts") from None
        allowed.add(node.docker_opts)


def check_template(source: str, fmt: str, options_doc: dict | None, name: str, version: str,
                   privileges: dict | None = None) -> None:
    """Render with the product's defaults (required keys take their example values).

    Without an options document yet (the seed PUTs the template first) only the syntax
    can be checked; the options PUT then renders it in full.
    """
    values = opts.defaults(options_doc)
    try:
        if options_doc is None:
            template.compile_template(source)
            return
        _, checked = template.render_document(source, fmt, template.sample_variables(values, "user", name, version))
    except template.TemplateError as e:
        raise Invalid(e.message, field=e.field or "template") from None
    check_docker_opts(checked, privileges)


class _PlaybookLoader(yaml.SafeLoader):
    """Safe YAML that tolerates Ansible's own tags (!vault, !unsafe)."""


_PlaybookLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def check_playbook(text: bytes | str, where: str = "playbook") -> None:
    try:
        doc = yaml.load(text, Loader=_PlaybookLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise Invalid(f"{where} is not valid YAML at line {line}: {e.problem}",
                          field="orchestrator") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise Invalid(f"{where} is not valid YAML: {e}", field="orchestrator") from None
    if not isinstance(doc, list) or not all(isinstance(play, dict) for play in doc):
        raise Invalid(f"{where} must be a list of plays (an Ansible playbook)", field="orchestrator")


def check_orchestrator(data: bytes, content_type: str) -> tuple[bytes, str]:
    """Returns (bytes to store, format): playbook YAML, or a tar.gz with playbook.yml."""
    if not data:
        raise Invalid("the orchestrator body is empty", field="orchestrator")
    if content_type not in TAR_TYPES:
        check_playbook(data)
        return data, "yaml"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = tar.getmembers()
            for m in members:
                path = PurePosixPath(m.name)
                if path.is_absolute() or ".." in path.parts:
                    raise Invalid(f"archive member {m.name!r} points outside the archive",
                                      field="orchestrator")
                if not (m.isfile() or m.isdir() or m.issym()):
                    raise Invalid(f"archive member {m.name!r} is not a file or directory",
                                      field="orchestrator")
                if m.issym() and (m.linkname.startswith("/") or ".." in PurePosixPath(m.linkname).parts):
                    raise Invalid(f"archive link {m.name!r} points outside the archive",
                                      field="orchestrator")
            names = {str(PurePosixPath(m.name)): m for m in members}
            playbook = names.get("playbook.yml")
            if playbook is None or not playbook.isfile():
                raise Invalid("the orchestrator archive has no playbook.yml at its top level",
                                  field="orchestrator")
            check_playbook(tar.extractfile(playbook).read(), "playbook.yml in the archive")
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as e:
        raise Invalid(f"the orchestrator body is not a tar or tar.gz archive: {e}",
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


def create(name: str, version: str, description: str = "", logo_url: str = "",
           options: dict | None = None, template_text: str | None = None,
           template_format: str = "json", privileges: dict | None = None) -> Product:
    """A new product version; every part given is checked before anything is stored."""
    check_name(name, "name")
    check_name(version, "version")
    doc = opts.check_document(options) if options is not None else None
    grants = granted.check(privileges)
    if template_text is not None:
        check_template(template_text, template_format, doc, name, version, grants)
    logo = check_logo_url(logo_url)
    with db.atomic():
        if Product.select().where((Product.name == name) & (Product.version == version)).exists():
            raise Conflict(f"product {name} {version} exists; change it with PUT or PATCH",
                           field="version")
        return Product.create(name=name, version=version, description=description,
                              logo_url=logo, options=doc, template=template_text,
                              template_format=template_format, privileges=grants)


def update(product: Product, *, description=None, logo_url=None, options=None, template_text=None,
           template_format=None, image=None, image_hash=None, privileges=None,
           day2_decl=None) -> Product:
    """Change several parts at once; the template is checked against the options in force."""
    fields: dict = {}
    if image is not None:
        fields["image"] = check_image(image, product)
    if image_hash is not None:
        if not re.fullmatch(r"[0-9a-f]{64}|", image_hash):
            raise Invalid("image_hash must be a sha256 hex digest (of the bundle's image/)", field="image_hash")
        fields["image_hash"] = image_hash
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
    if day2_decl is not None:
        fields["day2"] = day2.check(day2_decl)
    grants = product.privileges or {}
    if privileges is not None:
        grants = fields["privileges"] = granted.check(privileges)
    if source is not None and (template_text is not None or options is not None or template_format
                               or privileges is not None):
        check_template(source, fmt, doc, product.name, product.version, grants)
    if fields:
        template.forget(product.template)
        _touch(product, **fields)
    return product


def set_orchestrator(product: Product, data: bytes, content_type: str) -> None:
    stored, fmt = check_orchestrator(data, content_type)
    playbook.check_runnable(stored, fmt)
    _touch(product, orchestrator=stored, orchestrator_format=fmt)
    product.orchestrator_size = len(stored)


def delete(product: Product) -> None:
    with db.atomic():
        live = (Cluster.select().where((Cluster.product == product) & (Cluster.status != status.DESTROYED))
                .count())
        if live:
            raise Conflict(f"product {product.name} {product.version} has {live} cluster(s) not yet "
                           "destroyed; destroy them first")
        # Destroyed clusters are history of this product only: they go with it.
        Cluster.delete().where(Cluster.product == product).execute()
        product.delete_instance()
    template.forget(product.template)

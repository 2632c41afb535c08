"""Node images: the Debian base image and the product images built on top of it.

No container registry answers on our machines, so nothing here depends on one:

* ``bdp/debian:bookworm`` is the root filesystem. It is ``debian:bookworm-slim`` when a
  registry answers, else a ``debootstrap --variant=minbase`` tree fed to ``docker import``.
* ``bdp/base:bookworm`` (``BASE_IMAGE``) is built on it from ``api/engines/data/base-image/``:
  sshd (root, keys only), python3 and a few tools, with tini as PID 1.
* ``bdp/<product>:<version>`` is built from a product bundle's ``image/`` directory.

Builds run with ``network_mode="host"`` (the default bridge may not reach the mirror) and
are skipped entirely when an image with the tag already carries the label
``org.bdp.context-hash`` equal to the hash of its build inputs.

API::

    ensure_base_image(client=None, log=print) -> tag
    build_image(context_dir, tag, client=None, log=print, buildargs=None) -> tag
    ensure_product_image(product_dir, name, version, client=None, log=print) -> tag
    product_image_tag(name, version) -> "bdp/<name>:<version>"
    image_exists(tag, client=None) -> bool
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import glob
import hashlib
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from api.core.digest import feed_tree, tree_digest

BASE_IMAGE = "bdp/base:bookworm"
ROOTFS_IMAGE = "bdp/debian:bookworm"
HASH_LABEL = "org.bdp.context-hash"
FILES_LABEL = "org.bdp.files-hash"  # files_hash of the build context alone
BASE_CONTEXT = Path(__file__).parent / "data" / "base-image"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BUILD_TIMEOUT = 3600  # seconds; a silent RUN step (apt, pip) must not trip the socket timeout
PULL_TIMEOUT = 30  # seconds to wait for a registry before falling back to debootstrap
LOCK_DIR = Path(tempfile.gettempdir()) / "bdp-image-locks"


class ImageBuildError(RuntimeError):
    """A build failed; the message ends with the last lines of its output."""


def _client(client=None):
    return client or docker.from_env(timeout=BUILD_TIMEOUT)


def image_exists(tag: str, client=None) -> bool:
    try:
        _client(client).images.get(tag)
        return True
    except ImageNotFound:
        return False


def product_image_tag(name: str, version: str) -> str:
    """``bdp/<name>:<version>``; characters docker refuses become ``-``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", str(name).lower()).strip("-._")
    version = re.sub(r"[^A-Za-z0-9._-]+", "-", str(version)).lstrip("-.")[:128]
    return f"bdp/{name}:{version or 'latest'}"


@contextlib.contextmanager
def _lock(tag: str):
    """Serialise builds of one tag across processes (API workers, tests, CLI), so two
    callers never debootstrap or build the same image at once."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_DIR / (re.sub(r"[^\w.-]", "_", tag) + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _from_images(dockerfile: Path) -> list[str]:
    """Images named by FROM lines (the stage names of multi-stage builds included; they
    simply are not found locally)."""
    pat = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.I | re.M)
    return pat.findall(dockerfile.read_text())


def context_hash(context_dir, client=None, buildargs=None) -> str:
    """Hash of everything a build depends on: the context's files and build args
    (`files_hash`), and the ids of the local FROM images, so a rebuilt base also rebuilds
    the images on top of it."""
    root = Path(context_dir)
    h = hashlib.sha256()
    feed_tree(h, root, buildargs)  # as files_hash, continued: images built before keep their hash
    c = _client(client)
    for ref in _from_images(root / "Dockerfile"):
        try:
            h.update(f"FROM {ref} {c.images.get(ref).id}\n".encode())
        except ImageNotFound:
            h.update(f"FROM {ref} -\n".encode())
    return h.hexdigest()


def files_hash(context_dir, buildargs=None) -> str:
    """What the bundle's image/ directory is (no engine needed): a product records it when
    loaded, an image carries it from its build, and a launch compares the two."""
    return tree_digest(context_dir, buildargs)


def image_files_hash(tag: str, client=None) -> str | None:
    try:
        return (_client(client).images.get(tag).labels or {}).get(FILES_LABEL)
    except ImageNotFound:
        return None


def _cached_image(tag: str, digest: str, client):
    """The image tagged ``tag`` when it was built from inputs hashing to ``digest``."""
    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return None
    return image if (image.labels or {}).get(HASH_LABEL) == digest else None


def build_image(context_dir, tag: str, client=None, log=print, buildargs=None) -> str:
    """Build ``tag`` from ``context_dir`` (a directory with a Dockerfile) unless an image
    with that tag and the same context hash exists. Output lines go to ``log``; a failed
    build raises ImageBuildError carrying the last ~20 lines."""
    client = _client(client)
    context_dir = Path(context_dir)
    if not (context_dir / "Dockerfile").is_file():
        raise ImageBuildError(f"{context_dir}: no Dockerfile")
    with _lock(tag):
        digest = context_hash(context_dir, client, buildargs)
        if _cached_image(tag, digest, client):
            return tag
        log(f"building {tag} from {context_dir}")
        started = time.monotonic()
        tail = collections.deque(maxlen=20)
        error = None
        try:
            for chunk in client.api.build(
                path=str(context_dir), tag=tag, buildargs=buildargs,
                labels={HASH_LABEL: digest, FILES_LABEL: files_hash(context_dir, buildargs)},
                network_mode="host",
                rm=True, forcerm=True, decode=True, timeout=BUILD_TIMEOUT,
            ):
                for line in str(chunk.get("stream", "")).splitlines():
                    if line.strip():
                        tail.append(line)
                        log(line)
                if "error" in chunk:
                    error = chunk.get("errorDetail", {}).get("message") or chunk["error"]
        except DockerException as exc:
            error = str(exc)
        if error:
            raise ImageBuildError(f"build of {tag} failed: {error.strip()}\n" + "\n".join(tail))
        log(f"built {tag} in {time.monotonic() - started:.1f}s")
        return tag


def debian_mirror() -> str:
    """``$BDP_DEBIAN_MIRROR``, else the host's first Debian archive mirror (so a site
    with a local mirror uses it), else deb.debian.org."""
    if os.environ.get("BDP_DEBIAN_MIRROR"):
        return os.environ["BDP_DEBIAN_MIRROR"]
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")
                                               + glob.glob("/etc/apt/sources.list.d/*.sources"))
    pat = re.compile(r"^\s*(?:URIs:|deb(?:\s+\[[^]]*\])?)\s+(\S+)", re.M)
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        for uri in pat.findall(text):
            # The security archive has no bookworm suite; debootstrap needs the main one.
            if uri.startswith("http") and "security" not in uri:
                return uri
    return DEFAULT_MIRROR


def _debootstrap_import(client, log) -> None:
    """debootstrap a minbase bookworm and import it as ROOTFS_IMAGE."""
    mirror = debian_mirror()
    # /var/tmp, not /tmp: the tree needs exec and device nodes, and /tmp is often a
    # small or noexec tmpfs.
    workdir = tempfile.mkdtemp(prefix="bdp-rootfs-", dir="/var/tmp")
    rootfs, tarball = os.path.join(workdir, "rootfs"), os.path.join(workdir, "rootfs.tar")
    started = time.monotonic()
    try:
        log(f"debootstrap --variant=minbase bookworm from {mirror}")
        proc = subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", rootfs, mirror],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.splitlines()[-20:])
            raise ImageBuildError(f"debootstrap failed ({proc.returncode}):\n{tail}")
        # The downloaded .debs and package lists are half the tree; the image needs neither.
        for junk in glob.glob(f"{rootfs}/var/cache/apt/archives/*.deb") + \
                glob.glob(f"{rootfs}/var/lib/apt/lists/*_*"):
            os.unlink(junk)
        subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", rootfs, "-cf", tarball, "."],
                       check=True)
        repo, tag = ROOTFS_IMAGE.split(":")
        client.api.import_image(src=tarball, repository=repo, tag=tag)
        log(f"imported {ROOTFS_IMAGE} in {time.monotonic() - started:.1f}s")
    except (OSError, subprocess.CalledProcessError, DockerException) as exc:
        raise ImageBuildError(f"building {ROOTFS_IMAGE} failed: {exc}") from exc
    finally:
        # --one-file-system: a debootstrap that died mid-way can leave /proc or /sys
        # mounted inside the tree, and those must never be recursed into.
        subprocess.run(["rm", "-rf", "--one-file-system", workdir], check=False)


def _ensure_rootfs(client, log) -> None:
    if image_exists(ROOTFS_IMAGE, client):
        return
    # Try the registry briefly: on an air-gapped site the engine may hang on the pull
    # instead of failing, so the client's socket timeout is lowered for this one call.
    saved, client.api.timeout = client.api.timeout, PULL_TIMEOUT
    try:
        image = client.images.pull("debian", "bookworm-slim")
        image.tag(ROOTFS_IMAGE)
        log(f"pulled debian:bookworm-slim as {ROOTFS_IMAGE}")
        return
    except (DockerException, OSError) as exc:
        log(f"no registry answered, building with debootstrap ({exc.__class__.__name__})")
    finally:
        client.api.timeout = saved
    _debootstrap_import(client, log)


def ensure_base_image(client=None, log=print) -> str:
    """Return BASE_IMAGE, building it (and its root filesystem) only when missing or when
    ``api/engines/data/base-image/`` changed."""
    client = _client(client)
    with _lock(ROOTFS_IMAGE):
        _ensure_rootfs(client, log)
    return build_image(BASE_CONTEXT, BASE_IMAGE, client=client, log=log)


def ensure_product_image(product_dir, name: str, version: str, client=None, log=print) -> str:
    """The image for a product bundle: ``<product_dir>/image/`` built on the base image,
    or BASE_IMAGE itself when the bundle brings no image directory."""
    client = _client(client)
    base = ensure_base_image(client, log)
    context = Path(product_dir) / "image"
    if not (context / "Dockerfile").is_file():
        return base
    tag = product_image_tag(name, version)
    # PyPI packages the image installs are fetched on the host (see api/image_wheels.py).
    from api.engines.image_wheels import WheelFetchError, fetch_wheels
    with _lock(tag + ".wheels"):
        try:
            fetch_wheels(context, log)
        except WheelFetchError as exc:
            raise ImageBuildError(f"build of {tag} failed: {exc}") from exc
    return build_image(context, tag, client=client, log=log)


# ---------------------------------------------------------------------------- the command

def _cmd_build(args) -> int:
    """`bdp images build [PRODUCT [VERSION]] [--base]`: the base image alone with --base,
    else every product bundle (or the one named) under the products directory."""
    from api.core.config import Settings
    root = Path(args.products_dir or Settings().products_dir)
    try:
        ensure_base_image()
        if args.base:
            return 0
        bundles = sorted(p.parent.parent for p in root.glob("*/*/image/Dockerfile")
                         if args.product in (None, p.parent.parent.parent.name)
                         and args.version in (None, p.parent.parent.name))
        if args.product and not bundles:
            what = f"{args.product} {args.version or ''}".strip()
            print(f"bdp: no product bundle {what} with an image/ directory under {root}")
            return 1
        for bundle in bundles:
            tag = ensure_product_image(bundle, bundle.parent.name, bundle.name)
            print(f"{bundle.parent.name} {bundle.name}: {tag}")
    except ImageBuildError as exc:
        print(f"bdp: {exc}")
        return 1
    return 0


def register(subparsers) -> None:
    images = subparsers.add_parser("images", help="node images")
    sub = images.add_subparsers(dest="images_command", metavar="COMMAND")
    p = sub.add_parser("build", help="build the base image and product images (cached)")
    p.add_argument("product", nargs="?", help="only this product")
    p.add_argument("version", nargs="?", help="only this version")
    p.add_argument("--base", action="store_true", help="build only the base image")
    p.add_argument("--products-dir", help="bundles directory (default: $BDP_PRODUCTS_DIR or products/)")
    p.set_defaults(func=_cmd_build)
    images.set_defaults(func=lambda args: images.print_help() or 2)

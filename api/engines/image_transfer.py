"""Images without a registry: a host that lacks a node image gets it from the platform.

The platform's own engine (where `bdp images build` builds) saves the image once per
image id into the cache directory (`<data dir>/images/<id>.tar`, written whole then
renamed); every host that lacks that id loads the file. A host already holding the same
image id is left alone, so an image is sent to each host at most once per build.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from docker.errors import ImageNotFound

CHUNK = 1 << 20


class ImageMissing(RuntimeError):
    """The platform's own engine does not have the image either."""


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def _image_id(client, image: str) -> str | None:
    try:
        return client.images.get(image).id
    except ImageNotFound:
        return None


def saved(local, image: str, cache_dir: Path) -> Path:
    """The image's `docker save` archive in the cache, made once per image id; older
    archives of other ids are removed (a rebuilt image replaces its old archive)."""
    image_id = _image_id(local, image)
    if image_id is None:
        raise ImageMissing(f"image {image} is not on the platform's engine either; build it "
                           "with `bdp images build`")
    digest = image_id.split(":")[-1]
    path = cache_dir / f"{digest}.tar"
    tag_file = cache_dir / (image.replace("/", "_").replace(":", "_") + ".id")
    with _locked(path):
        if not path.exists():
            tmp = path.with_suffix(".partial")
            with open(tmp, "wb") as out:
                for chunk in local.api.get_image(image, chunk_size=CHUNK):
                    out.write(chunk)
            os.replace(tmp, path)
        if tag_file.exists() and tag_file.read_text() != digest:
            (cache_dir / f"{tag_file.read_text()}.tar").unlink(missing_ok=True)
        tag_file.write_text(digest)
    return path


def ensure_on(local, remote, loader, image: str, host: str, cache_dir: Path) -> str | None:
    """Make sure `remote` (a host's client) has `image` with the platform's image id;
    `loader` is the host's long-timeout client. Returns what was done, for the cluster's
    events, or None when the host already had it."""
    wanted = _image_id(local, image)
    if wanted is None:
        if _image_id(remote, image) is not None:
            return None  # built on the host itself, or loaded before the platform's was removed
        raise ImageMissing(f"image {image} is on neither host {host} nor the platform's engine")
    if _image_id(remote, image) == wanted:
        return None
    started = time.monotonic()
    path = saved(local, image, cache_dir)
    with open(path, "rb") as archive:
        for _ in loader.api.load_image(archive):
            pass
    if _image_id(remote, image) != wanted:
        raise ImageMissing(f"host {host} loaded image {image} but does not list it")
    size = path.stat().st_size / 2**20
    return f"sent image {image} ({size:.0f} MB) to host {host} in {time.monotonic() - started:.1f}s"

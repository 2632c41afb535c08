"""Clusters' views kept serialised, by cluster id and stamp (api/core/stamps.py): a GET
or a page whose clusters have not changed since it was last answered costs one indexed
probe of their stamps, not the members' query, the views and their JSON (most of a
read's time: 0.24 ms of a GET's, 1.1 ms of a page's 1.7 on SQLite, issue 13).

A kept view is used only while the cluster's stamp is the one it was read at, and only
on the database it came from; the stamp is read in the same statement as what the view
shows (or before it), so a kept view is never older than its stamp says. Each process
keeps its own, bounded; the oldest go first.
"""
from __future__ import annotations

import hashlib
import json
import threading
from typing import NamedTuple

import falcon

from api.clusters.queries import cluster_rows
from api.clusters.views import cluster_row_view, day2_by_status
from api.core.models import db
from api.http.media import dumps
from api.http.openapi import CHECK_RESPONSES


class Kept(NamedTuple):
    database: object
    stamp: int | None
    body: bytes  # the view's JSON
    etag: str | None  # of the body, where the views are answered on their own


class ViewCache:
    def __init__(self, size: int, etags: bool = False):
        self.size, self.etags = size, etags
        self._kept: dict[int, Kept] = {}
        self._lock = threading.Lock()  # served on the loop and in request threads

    def get(self, cluster_id: int, stamp: int | None) -> Kept | None:
        kept = self._kept.get(cluster_id)
        if kept is None or stamp is None or kept.stamp != stamp or kept.database is not db.obj:
            return None
        return kept

    def put(self, cluster_id: int, stamp: int | None, view: dict) -> Kept:
        """The view serialised, kept unless its cluster has no stamp."""
        body = dumps(view)
        etag = hashlib.blake2b(body, digest_size=12).hexdigest() if self.etags else None
        kept = Kept(db.obj, stamp, body, etag)
        if stamp is None:
            return kept
        with self._lock:
            self._kept.pop(cluster_id, None)
            if len(self._kept) >= self.size:
                del self._kept[next(iter(self._kept))]
            self._kept[cluster_id] = kept
        return kept


# A cluster GET's view (with node and service names), and a listed cluster's.
CLUSTERS = ViewCache(4096, etags=True)
LISTED = ViewCache(20_000)  # a page's parts: no ETag of their own


def send(resp, body: bytes) -> None:
    """Answer with JSON already serialised. When responses are checked (tests), it goes
    through resp.media like any other answer, so its schema is checked too."""
    if CHECK_RESPONSES:
        resp.media = json.loads(body)  # not orjson: a stored lone surrogate comes back escaped
        return
    resp.data = body
    resp.content_type = falcon.MEDIA_JSON


def send_cluster(req, resp, kept: Kept) -> None:
    """A cluster's view with its ETag, or 304 Not Modified to a client that has it."""
    resp.etag = kept.etag
    if req.if_none_match and any(tag == "*" or str(tag) == kept.etag for tag in req.if_none_match):
        resp.status = falcon.HTTP_304
        return
    send(resp, kept.body)


def page_body(stamps: list[tuple[int, int | None]], more: str | None) -> bytes:
    """A page of clusters (ids and stamps, from cluster_page) as the list's
    JSON, with kept views where their stamps still hold. A cluster gone since its stamp
    was read is left out."""
    parts = {cid: kept.body for cid, stamp in stamps if (kept := LISTED.get(cid, stamp)) is not None}
    rows = cluster_rows([cid for cid, _ in stamps if cid not in parts])
    if rows:
        day2 = day2_by_status({row[0]: row[5] for row in rows})
        for row in rows:
            parts[row[0]] = LISTED.put(row[0], row[-1], cluster_row_view(row[:-1], day2)).body
    listed = b",".join(parts[cid] for cid, _ in stamps if cid in parts)
    return b'{"clusters":[' + listed + b'],"next":' + dumps(more) + b"}"

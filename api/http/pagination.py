"""Pages of every list endpoint: `?limit=` (default 100, at most 1000) and an opaque
`?cursor=`, answered with `next` (the URL of the following page, or null) and a
`Link: <...>; rel="next"` header.

Pages are keyset pages on a unique column (the id, or a unique name): a page is "the
first `limit` rows after the last one seen", so rows added or removed during a walk never
make it repeat or skip one that was there all along (an offset would shift). The cursor
is that last key, base64url-encoded JSON: opaque to clients, and a value a client forges
only moves where its own, already filtered, walk starts.
"""
from __future__ import annotations

import base64
import binascii
import itertools
import json
from dataclasses import dataclass
from urllib.parse import urlencode

from api.core.errors import Invalid

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass
class Page:
    limit: int
    after: int | str | None  # the key of the last row of the previous page


def _encode(key) -> str:
    return base64.urlsafe_b64encode(json.dumps([key]).encode()).decode().rstrip("=")


def _decode(cursor: str, kind: type):
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        (key,) = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise Invalid("the cursor is not one this API gave out; use the `next` of a "
                      "previous page", field="cursor") from None
    if not isinstance(key, kind) or isinstance(key, bool):
        raise Invalid("the cursor is not one this list gave out; use the `next` of a "
                      "previous page of the same list", field="cursor")
    return key


def parse_limit(req, default: int = DEFAULT_LIMIT) -> int:
    raw = req.get_param("limit")
    if raw is None or raw == "":
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {raw!r}",
                      field="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be from 1 to {MAX_LIMIT}, not {limit}", field="limit")
    return limit


def page_of(req, kind: type = int) -> Page:
    """The page a request asks for (400 naming `limit` or `cursor` when they are wrong)."""
    cursor = req.get_param("cursor")
    return Page(parse_limit(req), _decode(cursor, kind) if cursor else None)


def next_url(req, key) -> str:
    """The request's own URL with the cursor moved past `key`."""
    params = [(k, v) for k, v in req.params.items() if k != "cursor"]
    flat = [(k, item) for k, v in params for item in (v if isinstance(v, list) else [v])]
    return f"{req.path}?{urlencode(flat + [('cursor', _encode(key))])}"


def cut(rows: list, limit: int, key, req, resp) -> tuple[list, str | None]:
    """Of `limit + 1` rows: the page, and the next page's URL (set in `Link`) if there is one."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    more = next_url(req, key(rows[-1]))
    resp.append_link(more, "next")
    return rows, more


def paginate(query, key_field, req, resp, kind: type = int, key=None) -> tuple[list, str | None]:
    """One page of `query` in `key_field` order: (rows, next URL or None). Sets the
    `Link` header when there is a next page. `key(row)` reads a row's key (default: the
    attribute named like `key_field`; tuples need it)."""
    page = page_of(req, kind)
    if page.after is not None:
        query = query.where(key_field > page.after)
    rows = list(query.order_by(key_field).limit(page.limit + 1))
    return cut(rows, page.limit, key or (lambda row: getattr(row, key_field.name)), req, resp)


def paginate_items(items, key, req, resp, kind: type = int) -> tuple[list, str | None]:
    """`paginate` for a list computed rather than queried (a network's addresses):
    `items(after)` yields, in ascending `key(item)` order, the items after key `after`
    (None: from the first), and is read only as far as one page needs."""
    page = page_of(req, kind)
    rows = list(itertools.islice(items(page.after), page.limit + 1))
    return cut(rows, page.limit, key, req, resp)

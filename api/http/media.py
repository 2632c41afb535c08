"""The API's JSON: one media handler that bounds what a client may send and makes sure
every text in it is valid Unicode, and answers that always encode.

* A body over MAX_JSON bytes is a 413 (read no further than that). Template and
  orchestrator uploads are raw bodies with their own, larger limits (resources/products.py).
* Nesting deeper than MAX_DEPTH is a 400, found by a scan before `json.loads` recurses
  (a deep enough document would otherwise be a RecursionError, a 500).
* A string or key holding a lone UTF-16 surrogate (`"\\ud800"`: valid JSON, not valid
  Unicode) is a 400 naming its JSON path: stored, it made every listing that shows it
  fail to encode, for every user, for good.
* Answers escape non-ASCII (`ensure_ascii`), so even a row written before these checks
  can never make a response fail to encode.
"""
from __future__ import annotations

import json
import re
from functools import partial

import falcon
import orjson
from falcon import media

from api.core.errors import Invalid, TooLarge

MAX_JSON = 1024 * 1024  # bytes of a JSON request body
MAX_DEPTH = 64  # nested arrays and objects
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """How deeply arrays and objects nest in a JSON text (strings skipped)."""
    deepest = depth = 0
    for m in _BRACKETS.finditer(_STRINGS.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_text(value, path: str = "") -> None:
    """Invalid naming the JSON path of the first key or string that is not valid Unicode."""
    if isinstance(value, str):
        if has_surrogate(value):
            raise Invalid(f"{path or 'the body'} holds a lone UTF-16 surrogate, which is not "
                          "valid Unicode text", field=path or "body")
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if has_surrogate(key):
                raise Invalid(f"a key in {path or 'the body'} holds a lone UTF-16 surrogate, "
                              "which is not valid Unicode text", field=path or "body")
            check_text(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_text(item, f"{path}.{i}" if path else str(i))


_ascii_dumps = partial(json.dumps, ensure_ascii=True)


def dumps(value) -> bytes:
    """orjson (a page of 100 clusters encodes several times faster), falling back to the
    standard encoder for what must be escaped: non-ASCII text (answers stay ASCII) and
    lone surrogates (which orjson refuses)."""
    try:
        out = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return _ascii_dumps(value).encode()
    return out if out.isascii() else _ascii_dumps(value).encode()


def _no_constant(name: str):
    """NaN and Infinity are Python's, not JSON's: refused (stored, they would come back as
    text no JSON reader takes)."""
    raise ValueError(f"{name} is not a JSON value")


class BoundedJSON(media.JSONHandler):
    def __init__(self):
        super().__init__(dumps=dumps, loads=json.loads)

    def deserialize(self, stream, content_type, content_length):
        if content_length is not None and content_length > MAX_JSON:
            raise TooLarge(f"the body is {content_length} bytes; JSON bodies may be at most "
                           f"{MAX_JSON} bytes", field="body")
        data = stream.read(MAX_JSON + 1)
        if len(data) > MAX_JSON:
            raise TooLarge(f"the body exceeds {MAX_JSON} bytes, the most a JSON body may be", field="body")
        if not data.strip():
            raise falcon.MediaNotFoundError("JSON")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Invalid(f"the body is not UTF-8 text (byte {e.start})", field="body") from None
        if _depth(text) > MAX_DEPTH:
            raise Invalid(f"the body nests arrays and objects deeper than {MAX_DEPTH} levels", field="body")
        try:
            value = json.loads(text, parse_constant=_no_constant)
        except ValueError as e:
            raise falcon.MediaMalformedError("JSON") from e
        check_text(value)
        return value


def install(app: falcon.App) -> None:
    handler = BoundedJSON()
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler

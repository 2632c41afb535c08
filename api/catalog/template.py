"""Cluster templates: sandboxed Jinja2 rendering, parsing, and the schema check.

Templates come from product authors over the API, so they render in Jinja2's
immutable sandbox (no attribute walks to `__class__`, no mutation of the values
passed in), with StrictUndefined (a misspelt variable is an error, not an empty
string) and bounds on output size and on `*`/`**` so one template cannot eat the
server's memory. What `{{ ... }}` prints is kept a value (`api/catalog/values.py`): a
user's option can never add, remove or replace keys of the document. Every failure is
a `TemplateError` naming a line or a field.
"""
from __future__ import annotations

import json
import operator
import re
import threading
import traceback
from collections import OrderedDict

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from api.catalog import values
from api.catalog.document import TemplateDocument, TemplateNodeError
from api.core.config import PROXY_PREFIX

TEMPLATE_NAME = "<template>"
MAX_OUTPUT = 16 * 1024 * 1024  # characters of rendered document
MAX_SEQUENCE = 1_000_000  # longest string/list a `*` may build
MAX_POWER = 10_000  # largest exponent


class TemplateError(Exception):
    def __init__(self, message: str, field: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line


_FORMAT_WIDTH = re.compile(r"%[-#0 +]*(\d*)(?:\.(\d+))?")  # width, precision


_DICT_ATTRIBUTES = frozenset(dir(dict))
_LOOP_ATTRIBUTES = frozenset(["index", "index0", "revindex", "revindex0", "first", "last", "length",
                              "depth", "depth0", "previtem", "nextitem"])


class _Env(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%"])

    def getattr(self, obj, attribute):
        # The lookups a template makes per node (`opts.size`, `loop.last`) answered
        # without the sandbox's attribute probe: for a dict no attribute shadows the key
        # (the sandbox would find the same item), a loop's counters are safe properties.
        kind = type(obj)
        if kind is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                return self.undefined(obj=obj, name=attribute)
        if kind is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context, operator_name, left, right):
        if operator_name == "%":
            # "%30000000s" % x builds a huge string before any output check sees it.
            if isinstance(left, str) and any(int(n) > MAX_SEQUENCE for spec in _FORMAT_WIDTH.findall(left)
                                             for n in spec if n):
                raise SecurityError(f"a '%' format width larger than {MAX_SEQUENCE}")
            return operator.mod(left, right)
        if operator_name == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQUENCE:
                    raise SecurityError(f"'*' would build a sequence longer than {MAX_SEQUENCE}")
            return operator.mul(left, right)
        if isinstance(right, (int, float)) and abs(right) > MAX_POWER:
            raise SecurityError(f"'**' exponent larger than {MAX_POWER}")
        return operator.pow(left, right)


_env = _Env(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def _raise_error(message, field=None):
    """Lets a template refuse options with a rule of its own ("size must be even"),
    surfaced as a 400 naming the option: `{{ raise_error("...", "size") }}`."""
    raise TemplateError(str(message), field=str(field) if field else "template")


_env.globals["raise_error"] = _raise_error
_env.filters["tojson"] = values.tojson
_env.filters[values.FILTER] = values.mark
_cache: OrderedDict = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 128


def _template_line(exc: BaseException) -> int | None:
    """The template line of a render-time error (Jinja rewrites tracebacks to it)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == TEMPLATE_NAME:
            line = frame.lineno
    return line


def compile_template(source: str):
    """Compile (cached by source text, so a PUT simply misses the cache)."""
    with _cache_lock:
        compiled = _cache.get(source)
        if compiled is not None:
            _cache.move_to_end(source)
            return compiled
    try:
        tree = values.mark_outputs(_env.parse(source))
        compiled = _env.template_class.from_code(_env, _env.compile(tree), _env.make_globals(None), None)
    except TemplateSyntaxError as e:
        raise TemplateError(f"template syntax error at line {e.lineno}: {e.message}",
                            field="template", line=e.lineno) from None
    except SecurityError as e:
        raise TemplateError(f"template refused by the sandbox: {e}", field="template") from None
    with _cache_lock:
        _cache[source] = compiled
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def forget(source: str | None) -> None:
    if source is not None:
        with _cache_lock:
            _cache.pop(source, None)


def render(source: str, variables: dict, fmt: str = "json") -> tuple[str, values.Printed]:
    """The rendered text, and what it printed (for `parse` to check)."""
    compiled = compile_template(source)
    printed, token = values.start(fmt)
    try:
        parts, size = [], 0
        for chunk in compiled.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateError(f"the rendered template exceeds {MAX_OUTPUT} characters",
                                    field="template")
            parts.append(chunk)
        return "".join(parts), printed
    except TemplateError:
        raise
    except SecurityError as e:
        line = _template_line(e)
        raise TemplateError(f"template refused by the sandbox at line {line}: {e}",
                            field="template", line=line) from None
    except UndefinedError as e:
        line = _template_line(e)
        raise TemplateError(f"undefined variable at template line {line}: {e.message}",
                            field="template", line=line) from None
    except (JinjaTemplateError, ArithmeticError, TypeError, ValueError, LookupError,
            AttributeError, RecursionError, OverflowError) as e:
        line = _template_line(e)
        raise TemplateError(f"template error at line {line}: {type(e).__name__}: {e}",
                            field="template", line=line) from None
    finally:
        values.stop(token)


class _DuplicateKey(Exception):
    def __init__(self, key, line: int):
        super().__init__(f"key {key!r} appears twice in one mapping (rendered line {line})")
        self.line = line


class _Loader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise _DuplicateKey(key, key_node.start_mark.line + 1)
                    seen.add(key)
        return super().construct_mapping(node, deep)


def _unique_pairs(pairs):
    out = dict(pairs)
    if len(out) < len(pairs):  # some key came twice: find the first, to name it
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key, 0)
            seen.add(key)
    return out


def _value_error(printed, index: int, problem: str, options: dict, line=None) -> TemplateError:
    option, what = values.blame(printed, index, options)
    return TemplateError(f"{what} {problem}; a value may only be a string there (the template "
                         "should quote it or print it with | tojson)", field=option or "template",
                         line=line or printed.lines[index])


def _load(text: str, fmt: str, printed, options: dict):
    def near(pos):
        index = values.value_at(text, printed, pos) if printed is not None and pos is not None else None
        return index
    if fmt == "yaml":
        try:
            return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            index = near(mark.index if mark else None)
            if index is not None:
                raise _value_error(printed, index, "breaks the YAML document", options) from None
            line = mark.line + 1 if mark else None
            raise TemplateError(f"rendered template is not valid YAML at line {line}: {e.problem}",
                                field="template", line=line) from None
        except yaml.reader.ReaderError as e:
            index = near(e.position)
            if index is not None:
                raise _value_error(printed, index, "holds a character YAML does not allow", options) from None
            raise TemplateError(f"rendered template is not valid YAML: {e}", field="template") from None
        except yaml.YAMLError as e:
            raise TemplateError(f"rendered template is not valid YAML: {e}", field="template") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as e:
        index = near(e.pos)
        if index is not None:
            raise _value_error(printed, index, "is printed outside a JSON string", options) from None
        raise TemplateError(f"rendered template is not valid JSON at rendered line {e.lineno}, "
                            f"column {e.colno}: {e.msg}", field="template", line=e.lineno) from None


def parse(text: str, fmt: str, printed: values.Printed | None = None, options: dict | None = None) -> dict:
    """Parse a rendered document (json or yaml) into a dict; with `printed` (what the
    render printed), check every printed value stayed a value and remove its markers."""
    options = options or {}
    try:
        doc = _load(text, fmt, printed, options)
        if printed is not None:
            doc = values.unmark(doc, printed, text)
    except _DuplicateKey as e:
        raise TemplateError(f"the rendered template: {e}", field="template", line=e.line or None) from None
    except values.NotAValue as e:
        raise _value_error(printed, e.index, e.problem, options) from None
    except values.DocumentError as e:
        raise TemplateError(f"the rendered template: {e}", field="template") from None
    if not isinstance(doc, dict):
        raise TemplateError("the rendered template must be an object with 'nodes' and 'services'",
                            field="template")
    return doc


def field_path(loc) -> str:
    return ".".join(str(part) for part in loc if part != "[key]")


def check(doc: dict) -> TemplateDocument:
    """Check a rendered document against the template schema."""
    try:
        return TemplateDocument.model_validate(doc)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, TemplateNodeError):
            raise TemplateError(cause.message, field=cause.field) from None
        path = field_path(err["loc"])
        if err["loc"] and err["loc"][-1] == "[key]":
            message = f"{path!r} is not a valid name: {err['msg']}"
        else:
            message = f"rendered template: {path or 'document'}: {err['msg']}"
        more = e.error_count() - 1
        if more:
            message += f" (and {more} more)"
        raise TemplateError(message, field=path or "template") from None


def render_document(source: str, fmt: str, variables: dict) -> tuple[dict, TemplateDocument]:
    text, printed = render(source, variables, fmt)
    doc = parse(text, fmt, printed, variables.get("opts") or {})
    return doc, check(doc)


def sample_variables(options: dict, user: str = "user", product: str = "product",
                     version: str = "1", seq: int = 1) -> dict:
    return variables(options, user, product, version, seq)


def variables(options: dict, user: str, product: str, version: str, seq: int) -> dict:
    """The seed's template variables."""
    return {"opts": options, "user": user, "product": product, "version": version,
            "clusterdn": f"clusters/{user}/{product}/{version}/{seq}", "clusterid": seq,
            # Where the proxy serves the cluster's http endpoints, for products that need
            # a base URL (Spark's spark.ui.proxyBase, Jupyter's base_url).
            "proxy_base": f"{PROXY_PREFIX}/{user}/{product}/{version}/{seq}"}

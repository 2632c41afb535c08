"""Cluster templates: sandboxed Jinja2 rendering, parsing, and the schema check.

Templates come from product authors over the API, so they render in Jinja2's
immutable sandbox (no attribute walks to `__class__`, no mutation of the values
passed in), with StrictUndefined (a misspelt variable is an error, not an empty
string) and bounds on output size and on `*`/`**` so one template cannot eat the
server's memory. Every failure is a `TemplateError` naming a line or a field.
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
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from api.catalog.document import TemplateDocument, TemplateNodeError

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


class _Env(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%"])

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
        compiled = _env.from_string(source)
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


def render(source: str, variables: dict) -> str:
    compiled = compile_template(source)
    try:
        parts, size = [], 0
        for chunk in compiled.generate(**variables):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateError(f"the rendered template exceeds {MAX_OUTPUT} characters",
                                    field="template")
            parts.append(chunk)
        return "".join(parts)
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


def parse(text: str, fmt: str) -> dict:
    """Parse a rendered document (json or yaml) into a dict."""
    if fmt == "yaml":
        try:
            doc = yaml.safe_load(text)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else None
            raise TemplateError(f"rendered template is not valid YAML at line {line}: {e.problem}",
                                field="template", line=line) from None
        except yaml.YAMLError as e:
            raise TemplateError(f"rendered template is not valid YAML: {e}", field="template") from None
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise TemplateError(f"rendered template is not valid JSON at rendered line {e.lineno}, "
                                f"column {e.colno}: {e.msg}", field="template", line=e.lineno) from None
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
    doc = parse(render(source, variables), fmt)
    return doc, check(doc)


def sample_variables(options: dict, user: str = "user", product: str = "product",
                     version: str = "1", seq: int = 1) -> dict:
    return variables(options, user, product, version, seq)


def variables(options: dict, user: str, product: str, version: str, seq: int) -> dict:
    """The seed's template variables."""
    return {"opts": options, "user": user, "product": product, "version": version,
            "clusterdn": f"clusters/{user}/{product}/{version}/{seq}", "clusterid": seq}

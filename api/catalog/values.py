"""Keeping a value a value: what `{{ ... }}` prints can never change the shape of the
rendered cluster document, whatever the user sent and whatever filter the product's
author forgot.

Why not escaping alone: the engine cannot know whether `{{ x }}` sits inside quotes,
in a YAML plain scalar, a block scalar or a comment, so no one escaping is right for
every place. Why not taint tracking on the values: a string made from a value (`~`,
`upper`, `replace`, `%`, slicing, `join`...) is a new `str` and would lose the mark.

What is done instead (sound whatever the expression computes):

1. The template's syntax tree is rewritten so every printed expression goes through one
   filter (`mark`), except those that can only print a template literal (a constant, or
   `"a" if test else "b"` of constants): those are the author's own text, such as the
   `{{ "," if not loop.last }}` that every template writes.
2. `mark` prints numbers and booleans as they are, `| tojson`'s output (already encoded
   for JSON and YAML) as it is, and any other value as text between two markers. A marker
   is private-use characters around a random per-render nonce and the value's index, so
   no value (nor YAML escape in one) can forge one. In JSON templates the text is
   escaped for a JSON string first: a quoted `"{{ x }}"` then keeps any value exactly.
3. The rendered text is parsed (duplicate keys refused: JSON's and YAML's "last one
   wins" is how one value replaced a whole `nodes` map), and every key and string of the
   document is walked: each printed value must open and close inside one string, hold
   exactly the text it printed, and every value that reached the output must be found
   in the document (not in a YAML comment). Then the markers are removed.

A value printed outside a string, one that closed its string and opened keys, or a
newline that started a new YAML key fails that check, and the launch is a 400 naming
the option and the template line. A value can so only ever become a string, a number
or a boolean where the template puts it, or what `| tojson` made of it.
"""
from __future__ import annotations

import contextvars
import json
import re
import secrets
from dataclasses import dataclass, field

from jinja2 import nodes, pass_context
from jinja2.runtime import Undefined

OPEN, CLOSE, END = "\ue000", "\ue002", "\ue001"
FILTER = "bdp-value"  # not an identifier: no template can call or shadow it
MAX_WALK = 2_000_000  # keys and values walked (YAML aliases can repeat a subtree)
# Characters YAML readers refuse (and JSON text had better not carry raw): escaped.
_UNPRINTABLE = re.compile("[\x7f-\x84\x86-\x9f\ufffe\uffff]")


class NotAValue(Exception):
    """A printed value that would not stay a value (carries the value's index)."""

    def __init__(self, index: int, problem: str):
        super().__init__(problem)
        self.index = index
        self.problem = problem


class DocumentError(Exception):
    """Keys that collide, or a document too large to walk."""


class Encoded(str):
    """Text already encoded for the document by `| tojson`: printed as it is."""


def _escape_unprintable(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def tojson(value, indent=None) -> Encoded:
    """`| tojson`: JSON, which is also valid YAML flow (unprintables escaped)."""
    return Encoded(_escape_unprintable(json.dumps(value, ensure_ascii=False, sort_keys=True,
                                                  indent=indent)))


@dataclass
class Printed:
    """What one render printed: each marked value's text and template line."""
    fmt: str
    nonce: str = field(default_factory=lambda: f"{secrets.randbelow(10**24):024d}")
    texts: list[str] = field(default_factory=list)
    lines: list[int | None] = field(default_factory=list)

    def marker(self) -> re.Pattern:
        return re.compile(f"([{OPEN}{CLOSE}]){self.nonce}(\\d+){END}")


_current: contextvars.ContextVar[Printed | None] = contextvars.ContextVar("bdp_printed", default=None)


def start(fmt: str) -> tuple[Printed, contextvars.Token]:
    printed = Printed(fmt)
    return printed, _current.set(printed)


def stop(token: contextvars.Token) -> None:
    _current.reset(token)


@pass_context  # a context filter is never folded at compile time (no render yet then)
def mark(context, value, line=None):
    printed = _current.get()
    if printed is None:
        raise RuntimeError("a template rendered outside api.catalog.template.render")
    if isinstance(value, Encoded):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    if isinstance(value, Undefined):
        return str(value)  # StrictUndefined raises; an if-expression without else prints ""
    text = str(value)
    body = json.dumps(text, ensure_ascii=False)[1:-1] if printed.fmt == "json" else text
    index = len(printed.texts)
    printed.texts.append(text)
    printed.lines.append(line)
    n = printed.nonce
    return f"{OPEN}{n}{index}{END}{_escape_unprintable(body)}{CLOSE}{n}{index}{END}"


def _literal(node) -> bool:
    """Whether an output expression can only print the template's own literal text."""
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.CondExpr):
        return _literal(node.expr1) and (node.expr2 is None or _literal(node.expr2))
    if isinstance(node, nodes.Concat):
        return all(_literal(n) for n in node.nodes)
    return False


def mark_outputs(tree: nodes.Template) -> nodes.Template:
    """Send every printed expression of the template (macros and blocks included)
    through `mark`, unless it can only print a literal."""
    for output in tree.find_all(nodes.Output):
        output.nodes = [
            n if isinstance(n, nodes.TemplateData) or _literal(n)
            else nodes.Filter(n, FILTER, [nodes.Const(n.lineno)], [], None, None, lineno=n.lineno)
            for n in output.nodes]
    return tree


def value_at(text: str, printed: Printed, pos: int) -> int | None:
    """The printed value to blame for a syntax error at character `pos` of `text`: the
    innermost one whose markers surround it, else the last one before it that ended on
    its line or spans lines (a newline in a value is how YAML keys get added)."""
    stack: list[int] = []
    suspect = None
    line_start = text.rfind("\n", 0, pos) + 1
    for m in printed.marker().finditer(text):
        if m.start() > pos:
            break
        index = int(m.group(2))
        if m.group(1) == OPEN:
            stack.append(index)
        elif stack:
            stack.pop()
            if m.start() >= line_start or "\n" in printed.texts[index]:
                suspect = index
    return stack[-1] if stack else suspect


def _unmark_text(text: str, printed: Printed, seen: set[int], pattern: re.Pattern) -> str:
    if OPEN not in text and CLOSE not in text:
        return text
    stack: list[tuple[int, int]] = []
    for m in pattern.finditer(text):
        index = int(m.group(2))
        if m.group(1) == OPEN:
            stack.append((index, m.end()))
            continue
        if not stack or stack[-1][0] != index:
            raise NotAValue(index, "does not stay inside one string of the document")
        _, begin = stack.pop()
        if text[begin:m.start()] != printed.texts[index]:
            raise NotAValue(index, "is not kept as written (the document's syntax changed it)")
        seen.add(index)
    if stack:
        raise NotAValue(stack[-1][0], "does not stay inside one string of the document")
    return pattern.sub("", text)


def _opened(rendered: str, printed: Printed, pattern: re.Pattern) -> set[int]:
    """Indexes of the values whose opening marker reached the rendered text (found with
    str.find: a regex scan of a large document for two characters costs more)."""
    opened, head = set(), OPEN + printed.nonce
    pos = rendered.find(head)
    while pos >= 0:
        m = pattern.match(rendered, pos)  # None for a marker the template cut short
        if m:
            opened.add(int(m.group(2)))
        pos = rendered.find(head, pos + 1)
    return opened


def _joined_keys(node: dict) -> str:
    try:
        return "".join(node)  # JSON's keys are all strings: one C call
    except TypeError:  # YAML's may be numbers, booleans, null
        return "".join(key for key in node if type(key) is str)


def _unmark_keys(node: dict, text, path: tuple) -> None:
    """Remove the markers of a mapping's keys in place, keeping its order; a key that
    becomes equal to another once its markers are gone is refused."""
    items = list(node.items())
    node.clear()
    for key, value in items:
        clean = text(key) if type(key) is str else key
        if clean in node:
            where = ".".join(str(part) for part in (*path, clean))
            raise DocumentError(f"key {where!r} appears twice in the rendered document")
        node[clean] = value


def unmark(doc, printed: Printed, rendered: str):
    """The document with every value checked and its markers removed (see the module
    docstring); raises NotAValue for the first value that does not stay a value, and
    DocumentError for keys that collide or a document too large to walk.

    Works in place on the freshly parsed document and visits each list and mapping once:
    a registration walks thousands of nodes (a copy, and a path string per step, were a
    third of its time), and a YAML alias that repeats a subtree, or contains itself,
    costs one visit."""
    pattern = printed.marker()
    emitted = _opened(rendered, printed, pattern)
    seen: set[int] = set()
    visited: set[int] = set()
    budget = MAX_WALK

    def text(value: str) -> str:
        return _unmark_text(value, printed, seen, pattern)

    # Exact types, not isinstance: the parsers make plain ones, and anything not walked
    # keeps its markers, which the check below refuses (never passes unchecked).
    def walk(node, path: tuple) -> None:
        nonlocal budget
        if id(node) in visited:
            return
        visited.add(id(node))
        budget -= len(node) + 1
        if budget < 0:
            raise DocumentError(f"the rendered document has more than {MAX_WALK} keys and values")
        if type(node) is dict:
            keys = _joined_keys(node)
            if OPEN in keys or CLOSE in keys:
                _unmark_keys(node, text, path)
            pairs = node.items()
        else:
            pairs = enumerate(node)
        for key, value in pairs:  # replacing a value keeps the mapping's size: safe
            kind = type(value)
            if kind is str:
                if OPEN in value or CLOSE in value:
                    node[key] = text(value)
            elif kind is dict or kind is list:
                walk(value, (*path, key))

    if not emitted:
        return doc  # nothing printed a value: nothing to check or remove
    if type(doc) is str:
        doc = text(doc)
    elif type(doc) is dict or type(doc) is list:
        walk(doc, ())
    for index in sorted(emitted - seen):
        raise NotAValue(index, "is printed outside every string of the document (in a comment?)")
    return doc


def blame(printed: Printed, index: int, options: dict) -> tuple[str | None, str]:
    """(option at fault or None, "the value of option 'x' printed at template line N")."""
    text = printed.texts[index]
    line = printed.lines[index]
    name = None
    for key, value in options.items():
        if isinstance(value, str) and value and value in text:
            name = key
            break
    what = f"the value of option {name!r}" if name else "a value"
    return name, what + (f" printed at template line {line}" if line else "")

"""Product options documents and the values a user launches with.

An options document is `{"required": {}, "optional": {}, "advanced": {}, "descriptions": {}}`
(DESIGN.md). Required values are examples the user must replace; optional and advanced
values are defaults. A given value must have the type of the documented one; a numeric
string is accepted for a number, as the seed's `{"size": "2"}` shows.
"""
from __future__ import annotations

from typing import Any

from api.core.errors import Invalid

SECTIONS = ("required", "optional", "advanced")
DOC_KEYS = (*SECTIONS, "descriptions")


def check_document(doc: Any) -> dict:
    """Validate an options document; returns it normalised (every section present)."""
    if not isinstance(doc, dict):
        raise Invalid("the options document must be a JSON object with 'required', "
                          "'optional', 'advanced' and 'descriptions'", field="options")
    unknown = [k for k in doc if k not in DOC_KEYS]
    if unknown:
        raise Invalid(f"unknown section {unknown[0]!r} in the options document; "
                          f"sections are {', '.join(DOC_KEYS)}", field=f"options.{unknown[0]}")
    out: dict[str, dict] = {}
    seen: dict[str, str] = {}
    for section in DOC_KEYS:
        value = doc.get(section) or {}
        if not isinstance(value, dict):
            raise Invalid(f"options section {section!r} must be an object", field=f"options.{section}")
        out[section] = value
        if section in SECTIONS:
            for key in value:
                if key in seen:
                    raise Invalid(f"option {key!r} is in both {seen[key]!r} and {section!r}",
                                      field=f"options.{section}.{key}")
                seen[key] = section
    for key, text in out["descriptions"].items():
        if key not in seen:
            raise Invalid(f"description of {key!r}, which is not an option",
                              field=f"options.descriptions.{key}")
        if not isinstance(text, str):
            raise Invalid(f"the description of {key!r} must be a string",
                              field=f"options.descriptions.{key}")
    return out


def defaults(doc: dict | None) -> dict:
    """The values a template is checked with: examples for required keys, defaults for the rest."""
    doc = doc or {}
    values: dict = {}
    for section in SECTIONS:
        values.update(doc.get(section) or {})
    return values


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string",
            list: "list", dict: "object"}.get(type(value), type(value).__name__)


def coerce(key: str, documented: Any, value: Any) -> Any:
    """`value` converted to the documented value's type, or a 400 naming `key`."""
    def wrong():
        name = _type_name(documented)
        article = "an" if name[0] in "aeiou" else "a"
        return Invalid(f"option {key!r} must be {article} {name} "
                           f"(like {documented!r}), not {value!r}", field=key)
    if documented is None:
        return value
    if isinstance(documented, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise wrong()
    if isinstance(documented, int):
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise wrong() from None
        raise wrong()
    if isinstance(documented, float):
        if isinstance(value, bool):
            raise wrong()
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise wrong() from None
            if number != number or number in (float("inf"), float("-inf")):
                raise wrong()
            return number
        raise wrong()
    if isinstance(value, type(documented)):
        return value
    raise wrong()


def merge(doc: dict | None, given: Any) -> dict:
    """Defaults <- user values, checked: unknown keys refused, required keys needed."""
    doc = doc or {}
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise Invalid("launch options must be a JSON object, e.g. {\"size\": 2}", field="options")
    documented = defaults(doc)
    for key in given:
        if key not in documented:
            known = ", ".join(sorted(documented)) or "none"
            raise Invalid(f"unknown option {key!r}; this product's options are: {known}", field=key)
    missing = [k for k in (doc.get("required") or {}) if k not in given]
    if missing:
        example = doc["required"][missing[0]]
        raise Invalid(f"option {missing[0]!r} is required (for example {example!r})", field=missing[0])
    values = {k: v for k, v in documented.items() if k not in (doc.get("required") or {})}
    for key, value in given.items():
        values[key] = coerce(key, documented[key], value)
    return values

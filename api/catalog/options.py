"""Product options documents and the values a user launches with.

An options document is `{"required": {}, "optional": {}, "advanced": {}, "descriptions": {}}`
(the seed's, see docs/product-guide.md), and may carry `"schema": {option: JSON Schema of its value}`
(`api/catalog/option_schema.py`). Required values are examples the user must replace;
optional and advanced values are defaults. Without a `"schema"` each option's schema is
derived from its documented value (a value must have the documented value's type), so
both kinds of document are checked by one path: coerce, then validate the schema. A
numeric string is accepted for a number, as the seed's `{"size": "2"}` shows.
"""
from __future__ import annotations

import json
import math
from typing import Any

from api.catalog import option_schema as schemas
from api.catalog.day2 import LAUNCH_KEYS
from api.core.errors import Invalid

SECTIONS = ("required", "optional", "advanced")
# Characters of one launch value (as JSON): options configure a cluster, they do not
# carry data, and each is stored with the cluster and shown in every listing of it.
MAX_VALUE = 64 * 1024
DOC_KEYS = (*SECTIONS, "descriptions", "schema")


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
    for section in (*SECTIONS, "descriptions"):
        value = doc.get(section) or {}
        if not isinstance(value, dict):
            raise Invalid(f"options section {section!r} must be an object", field=f"options.{section}")
        out[section] = value
        if section in SECTIONS:
            for key in value:
                if key in LAUNCH_KEYS:
                    raise Invalid(f"option {key!r} is a launch key of the platform's (a cluster's "
                                  "lifetime, auto_replace); name the option otherwise",
                                  field=f"options.{section}.{key}")
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
    if doc.get("schema") is not None:  # absent (or null, as the PUT body model dumps it): derived
        schemas.check_schemas(doc["schema"], {k: (s, out[s][k]) for k, s in seen.items()})
        out["schema"] = doc["schema"]
    return out


def options_schema(doc: dict | None) -> dict:
    """The JSON Schema of a launch's merged values: the author's per-option schemas, or
    ones derived from the documented values, annotated with descriptions and defaults."""
    doc = doc or {}
    given = doc.get("schema") or {}
    descriptions = doc.get("descriptions") or {}
    properties: dict[str, dict] = {}
    for section in SECTIONS:
        for key, value in (doc.get(section) or {}).items():
            prop = dict(given[key]) if key in given else schemas.derived(value)
            if key in descriptions:
                prop.setdefault("description", descriptions[key])
            if section == "required":
                prop.setdefault("examples", [value])
            else:
                prop.setdefault("default", value)
            properties[key] = prop
    return schemas.object_schema(properties, list(doc.get("required") or {}))


def defaults(doc: dict | None) -> dict:
    """The values a template is checked with: examples for required keys, defaults for the rest."""
    doc = doc or {}
    values: dict = {}
    for section in SECTIONS:
        values.update(doc.get(section) or {})
    return values


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    # NaN passes every minimum and maximum, and neither renders as JSON: refused.
    return value if isinstance(value, float) and math.isfinite(value) else None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


_COERCE = {"integer": _integer, "number": _number, "boolean": _boolean,
           "string": lambda v: v if isinstance(v, str) else None,
           "array": lambda v: v if isinstance(v, list) else None,
           "object": lambda v: v if isinstance(v, dict) else None}


def coerce(key: str, documented: Any, value: Any, kind: str | None = None) -> Any:
    """`value` converted to the option's schema type (`kind`; by default the documented
    value's, as the seed), or a 400 naming `key`. Bounds are the schema's, checked after."""
    if kind is None:
        kind = schemas.derived(documented).get("type")
    if kind is None:  # a documented null, and no schema: anything goes
        return value
    converted = _COERCE[kind](value)
    if converted is None:
        name = schemas.TYPE_NAMES[kind]
        article = "an" if name[0] in "aeiou" else "a"
        raise Invalid(f"option {key!r} must be {article} {name} "
                      f"(like {documented!r}), not {value!r}", field=key)
    return converted


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def merge(doc: dict | None, given: Any) -> dict:
    """Defaults <- user values, checked: unknown keys refused, required keys needed,
    values coerced to their types and then validated against the options' schema."""
    doc = doc or {}
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise Invalid("launch options must be a JSON object, e.g. {\"size\": 2}", field="options")
    documented = defaults(doc)
    for key in given:
        if len(json.dumps(given[key], ensure_ascii=False)) > MAX_VALUE:
            raise Invalid(f"option {key!r} is longer than {MAX_VALUE} characters", field=key)
        if _holds_nul(key) or _holds_nul(given[key]):
            # No document, database text or container argument can carry one.
            raise Invalid(f"option {key!r} holds a NUL character (\\u0000)", field=key)
        if key not in documented:
            known = ", ".join(sorted(documented)) or "none"
            raise Invalid(f"unknown option {key!r}; this product's options are: {known}", field=key)
    missing = [k for k in (doc.get("required") or {}) if k not in given]
    if missing:
        example = doc["required"][missing[0]]
        raise Invalid(f"option {missing[0]!r} is required (for example {example!r})", field=missing[0])
    schema = options_schema(doc)
    values = {k: v for k, v in documented.items() if k not in (doc.get("required") or {})}
    for key, value in given.items():
        values[key] = coerce(key, documented[key], value, schema["properties"][key].get("type"))
    error = schemas.first_error(schema, values)
    if error:
        raise Invalid(error[1], field=error[0])
    return values

"""JSON Schemas of product options: checking the ones authors write, deriving them from
documented values, and turning a launch's first schema error into a sentence.

Each option has the JSON Schema (Draft 2020-12) of its one value. An author writes it
in the options document's `"schema"` key; a seed document without one gets a schema
derived from its documented values (`derived`), so every launch is checked the same
way (`api/catalog/options.py`, `merge`).
"""
from __future__ import annotations

from typing import Any

from jsonschema import exceptions
from jsonschema.validators import validator_for

from api.core.errors import Invalid

DRAFT = "https://json-schema.org/draft/2020-12/schema"
Validator = validator_for({"$schema": DRAFT})

# Types a launch knows how to take from a user (scalars are coerced from strings, as the
# seed's {"size": "2"}; lists and objects are only checked). Their names in messages.
TYPE_NAMES = {"integer": "integer", "number": "number", "string": "string",
              "boolean": "boolean", "array": "list", "object": "object"}

# Keywords an option schema may use. Anything else is refused rather than ignored (as
# JSON Schema would): a misspelt "maximun" would silently cap nothing. References are
# refused too: an option's schema must stand alone inside the product's object schema.
KEYWORDS = (set(Validator.VALIDATORS) - {"$ref", "$dynamicRef"}) | {
    "then", "else", "title", "description", "default", "examples", "$comment", "deprecated",
    "readOnly", "writeOnly"}
_SUB_ONE = ("items", "not", "contains", "additionalProperties", "propertyNames", "if", "then",
            "else", "unevaluatedItems", "unevaluatedProperties")
_SUB_LIST = ("prefixItems", "allOf", "anyOf", "oneOf")
_SUB_MAP = ("properties", "patternProperties", "dependentSchemas")


def derived(value: Any) -> dict:
    """The schema the seed's rule implies: the documented value's type; a `null` takes anything."""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return {"type": "boolean"}
    for kind, types in (("integer", int), ("number", float), ("string", str),
                        ("array", list), ("object", dict)):
        if isinstance(value, types):
            return {"type": kind}
    return {}


def _unknown_keyword(schema: Any) -> str | None:
    """The first keyword, at any depth, that is not in KEYWORDS (the schema is valid)."""
    if not isinstance(schema, dict):  # true/false schemas
        return None
    for key in schema:
        if key not in KEYWORDS:
            return key
    subs = [schema[k] for k in _SUB_ONE if k in schema]
    subs += [s for k in _SUB_LIST for s in schema.get(k, ())]
    subs += [s for k in _SUB_MAP for s in schema.get(k, {}).values()]
    for sub in subs:
        found = _unknown_keyword(sub)
        if found:
            return found
    return None


def check_schema(key: str, schema: Any) -> None:
    """One option's schema: a valid Draft 2020-12 schema with a `type` a launch can take."""
    field = f"options.schema.{key}"
    if not isinstance(schema, dict):
        raise Invalid(f"the schema of option {key!r} must be an object (a JSON Schema)", field=field)
    if schema.get("type") not in TYPE_NAMES:
        raise Invalid(f"the schema of option {key!r} must declare a 'type', one of: "
                      f"{', '.join(TYPE_NAMES)}", field=field)
    try:
        Validator.check_schema(schema)
    except exceptions.SchemaError as e:
        where = "/".join(str(p) for p in e.path)
        raise Invalid(f"the schema of option {key!r} is not a valid JSON Schema (Draft 2020-12)"
                      f"{' at ' + where if where else ''}: {e.message}", field=field) from None
    bad = _unknown_keyword(schema)
    if bad:
        raise Invalid(f"the schema of option {key!r} uses {bad!r}, which is not a JSON Schema "
                      "keyword the platform applies (misspelt? $ref is not supported)", field=field)


def check_schemas(schemas: Any, documented: dict[str, tuple[str, Any]]) -> None:
    """The `"schema"` key of an options document: one valid schema per option, no more,
    each met by the option's documented value. `documented`: {option: (section, value)}."""
    if not isinstance(schemas, dict):
        raise Invalid("'schema' must be an object: {option: the JSON Schema of its value}",
                      field="options.schema")
    for key in schemas:
        if key not in documented:
            raise Invalid(f"schema of {key!r}, which is not an option", field=f"options.schema.{key}")
    for key, (section, value) in documented.items():
        if key not in schemas:
            raise Invalid(f"option {key!r} has no schema; with 'schema', every option needs one",
                          field=f"options.schema.{key}")
        check_schema(key, schemas[key])
        errors = list(Validator(schemas[key], format_checker=Validator.FORMAT_CHECKER).iter_errors(value))
        if errors:
            what = "example" if section == "required" else "default"
            raise Invalid(f"the {what} of option {key!r} does not meet its schema: "
                          f"{describe(exceptions.best_match(errors))}", field=f"options.{section}.{key}")


def object_schema(properties: dict[str, dict], required: list[str]) -> dict:
    return {"$schema": DRAFT, "type": "object", "properties": properties,
            "required": required, "additionalProperties": False}


def _show(value: Any) -> str:
    return repr(value)


def _listed(values: list) -> str:
    return ", ".join(v if isinstance(v, str) else _show(v) for v in values)


_PHRASES = {
    "minimum": "must be at least {bound} (got {got})",
    "maximum": "must be at most {bound} (got {got})",
    "exclusiveMinimum": "must be greater than {bound} (got {got})",
    "exclusiveMaximum": "must be less than {bound} (got {got})",
    "multipleOf": "must be a multiple of {bound} (got {got})",
    "minLength": "must be at least {bound} characters long (got {size})",
    "maxLength": "must be at most {bound} characters long (got {size})",
    "minItems": "must have at least {bound} items (got {size})",
    "maxItems": "must have at most {bound} items (got {size})",
    "pattern": "must match {bound}",
    "format": "must be a valid {bound} (got {got})",
    "const": "must be {got_bound}",
    "type": "must be of type {bound} (got {got})",
}


def describe(error: exceptions.ValidationError) -> str:
    """A schema error as the rest of a sentence about the option ("must be at most 64 (got 5000)")."""
    keyword, bound, got = error.validator, error.validator_value, error.instance
    if keyword == "enum":
        return f"must be one of: {_listed(bound)}"
    if keyword == "not":
        return f"may not be {_show(got)}"
    phrase = _PHRASES.get(keyword)
    if phrase is None:
        return f"is not valid: {error.message}"
    size = len(got) if isinstance(got, (str, list, dict)) else "?"
    return phrase.format(bound=bound, got=_show(got), size=size, got_bound=_show(bound))


def first_error(schema: dict, values: dict) -> tuple[str, str] | None:
    """(option, message) for the first option, in documented order, that breaks `schema`."""
    validator = Validator(schema, format_checker=Validator.FORMAT_CHECKER)
    errors = list(validator.iter_errors(values))
    if not errors:
        return None
    order = {key: i for i, key in enumerate(schema["properties"])}

    def rank(e):  # errors about the whole object (none: merge checks those first) lead
        return order.get(e.absolute_path[0], -1) if e.absolute_path else -1
    first = min(rank(e) for e in errors)
    error = exceptions.best_match(e for e in errors if rank(e) == first)
    path = list(error.absolute_path)  # best_match may descend into anyOf/oneOf branches
    if not path:
        return "options", f"options {describe(error)}"
    key, inner = path[0], path[1:]
    where = f" at {'/'.join(str(p) for p in inner)}" if inner else ""
    return key, f"option {key!r}{where} {describe(error)}"

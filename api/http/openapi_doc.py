"""Completing the generated OpenAPI document: what spectree cannot see.

spectree documents what resources declare with `validate(...)`. This adds the rest, in
one place: the bodies that are not JSON models (templates and playbooks are raw text or
archives), the request bodies of POST /networks, POST /hosts and PATCH /hosts/<name>
(checked field by field by their resources),
and every error answer an operation can give, in the one error shape (ErrorBody):

* every operation: 400 (a path or query that is not UTF-8, bad input), 404, 503 (the
  database or an engine briefly unavailable, too many actions at once);
* every operation but the public ones: 401 (no or a bad token) and 403;
* operations with a body: 409, 413 (too large) and 415 (an unknown Content-Type);
  DELETE: 409 (busy, in use).

The web console's routes are not part of the API and are left out.
"""
from __future__ import annotations

from api.core.config import API_PREFIX

ERRORS = {"400": "Bad Request", "401": "Unauthorized", "403": "Forbidden", "404": "Not Found",
          "409": "Conflict", "413": "Payload Too Large", "415": "Unsupported Media Type",
          "503": "Service Unavailable"}
PUBLIC = {f"{API_PREFIX}/health", f"{API_PREFIX}/openapi.json"}
TEXT = {"type": "string"}
BINARY = {"type": "string", "format": "binary"}
# A raw template or playbook answered as application/json or yaml is text the client
# reads as it is: any document (a JSON template may well parse as a number).
RAW = {}


def _ref(doc: dict, model: str) -> dict:
    names = [n for n in doc.get("components", {}).get("schemas", {}) if n.split(".")[0] == model]
    return {"$ref": f"#/components/schemas/{names[0]}"} if names else {"type": "object"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _raw_bodies(doc: dict) -> dict:
    """(method, path suffix) -> (request content or None, {status: (description, content)})."""
    product = _json(_ref(doc, "ProductView"))
    return {
        ("get", "/template"): (None, {"200": ("The raw Jinja2 template", {
            "application/json": {"schema": RAW}, "application/yaml": {"schema": RAW}})}),
        ("put", "/template"): ({"application/json": {"schema": TEXT}, "application/yaml": {"schema": TEXT}},
                               {"200": ("The product", product)}),
        ("get", "/orchestrator"): (None, {"200": ("The playbook, or a tar.gz with its roles", {
            "application/yaml": {"schema": RAW}, "application/gzip": {"schema": BINARY}})}),
        ("put", "/orchestrator"): ({"application/yaml": {"schema": TEXT}, "application/gzip": {"schema": BINARY},
                                    "application/x-tar": {"schema": BINARY}}, {"200": ("The product", product)}),
        ("put", "/logo_url"): ({**_json(_ref(doc, "LogoView")), "text/plain": {"schema": TEXT}},
                               {"200": ("The logo URL", _json(_ref(doc, "LogoView")))}),
        ("get", "/openapi.json"): (None, {"200": ("This document", _json({"type": "object"}))}),
    }


def _errors_for(path: str, method: str, op: dict) -> list[str]:
    codes = ["400", "404", "503"]
    if path not in PUBLIC:
        codes += ["401", "403"]
    if method in ("post", "put", "patch"):
        codes += ["409", "413", "415"]
    if method == "delete":
        codes.append("409")
    return codes


def complete(doc: dict) -> dict:
    from api.http.schemas import HostCreate, HostPatch, NetworkCreate
    raw = _raw_bodies(doc)
    error = _json(_ref(doc, "ErrorBody"))
    paths = {}
    for path, ops in doc["paths"].items():
        if not path.startswith(API_PREFIX):
            continue
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            for (m, suffix), (request, answers) in raw.items():
                if m == method and (path.endswith(suffix) or path.endswith(suffix.replace("orch", "orqu"))):
                    if request:
                        op["requestBody"] = {"content": request, "required": True}
                    for status, (description, content) in answers.items():
                        responses[status] = {"description": description, "content": content}
            for m, where, model in (("post", "/networks", NetworkCreate), ("post", "/hosts", HostCreate),
                                    ("patch", "/hosts/{host}", HostPatch)):
                if method == m and path == f"{API_PREFIX}{where}":
                    op["requestBody"] = {"content": _json(model.model_json_schema()), "required": True}
            for status in _errors_for(path, method, op):
                responses.setdefault(status, {"description": ERRORS[status], "content": error})
        paths[path] = ops
    return {**doc, "paths": paths}

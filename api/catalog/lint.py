"""`bdp products lint`: every check the platform makes of a bundle, at once, with the file
and line at fault — the `helm lint` of a product bundle.

- product.yml, options.json and the template load (the same checks as PUT and load);
- the template renders and its document passes with the defaults and with each option at
  the extremes its schema allows (minimum, maximum, every enum value, both booleans);
- the playbook loads with the bundle's and the shared roles and has the four tags
  (api/catalog/playbook.py, ansible-playbook itself);
- a node image `bdp/<name>:<version>` has image/Dockerfile, and image/Dockerfile is used;
- ansible-lint and yamllint, where installed, as warnings.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from api.catalog import options as opts
from api.catalog import playbook, template
from api.catalog.bundle import TEMPLATE_FILES, Bundle, load_bundle
from api.catalog.findings import Finding
from api.core.errors import DomainError

BASE_IMAGE = "bdp/base:bookworm"
LINTER_TIMEOUT = 120


def _file_of(message: str, bundle: Path) -> str:
    """The bundle file a load error names (load_bundle's messages start with its path)."""
    match = re.match(re.escape(str(bundle)) + r"/([^:\s]+)", message)
    return match.group(1) if match else "product.yml"


def _line_of(path: Path, key: str) -> int | None:
    """The first line of a JSON/YAML file that names `key`, for a finding about it."""
    try:
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if f'"{key}"' in text or re.match(rf"\s*{re.escape(key)}\s*:", text):
                return number
    except OSError:
        pass
    return None


def extremes(doc: dict | None) -> list[dict]:
    """Option values to render with: the defaults, then each option at each bound."""
    base = opts.defaults(doc)
    schema = opts.options_schema(doc).get("properties", {})
    variants = [dict(base)]
    for key, spec in schema.items():
        values = []
        for bound in ("minimum", "maximum"):
            if isinstance(spec.get(bound), (int, float)):
                values.append(spec[bound])
        values += list(spec.get("enum") or [])
        if spec.get("type") == "boolean":
            values += [True, False]
        variants += [{**base, key: v} for v in values if v != base.get(key)]
    return variants


def _template_file(bundle: Bundle) -> str:
    return next(f for f, fmt in TEMPLATE_FILES.items() if fmt == bundle.template_format)


def check_template(bundle: Bundle) -> list[Finding]:
    if bundle.template is None:
        return [Finding("template.json.j2", None, "the bundle has no template")]
    findings, images = [], set()
    doc = opts.check_document(bundle.options) if bundle.options is not None else None
    for values in extremes(doc):
        try:
            rendered, checked = template.render_document(
                bundle.template, bundle.template_format,
                template.sample_variables(values, "user", bundle.name, bundle.version))
        except template.TemplateError as e:
            changed = {k: v for k, v in values.items() if v != opts.defaults(doc).get(k)}
            with_ = f" with {json.dumps(changed)}" if changed else " with the defaults"
            # A rule of the template's own (raise_error naming an option) refusing a value
            # the schema allows is a 400 users will meet: worth a warning, not a broken bundle.
            own_rule = changed and e.field not in (None, "template")
            findings.append(Finding(_template_file(bundle), e.line, f"{e.message}{with_}" + (
                " (the schema allows it; a tighter schema would refuse it earlier)" if own_rule else ""),
                "warning" if own_rule else "error"))
            continue
        images |= {n.docker_image for n in checked.nodes.values()}
    own = f"bdp/{bundle.name}:{bundle.version}"
    has_dockerfile = (bundle.path / "image" / "Dockerfile").is_file()
    for image in sorted(images):
        if image.startswith("bdp/") and image not in (own, BASE_IMAGE):
            findings.append(Finding(_template_file(bundle), None, f"nodes use {image}, which this bundle does "
                                    f"not build (its image/ builds {own})", "warning"))
        if image == own and not has_dockerfile:
            findings.append(Finding("image/Dockerfile", None, f"the template's nodes use {own} but the bundle "
                                    "has no image/Dockerfile to build it"))
    if has_dockerfile and images and own not in images:
        findings.append(Finding("image/Dockerfile", None, f"image/Dockerfile builds {own}, which no node "
                                f"of the template uses (they use {', '.join(sorted(images))})", "warning"))
    return findings


def _linter(name: str, args: list[str], bundle: Path) -> list[Finding]:
    exe = shutil.which(name) or (Path(playbook.sys.executable).parent / name)
    if not Path(exe).exists():
        return []
    try:
        done = subprocess.run([str(exe), *args], cwd=bundle, capture_output=True, text=True,
                              timeout=LINTER_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [Finding(".", None, f"{name} did not finish: {exc}", "warning")]
    found = []
    for line in done.stdout.splitlines():
        match = re.match(r"(?P<file>[^:\s]+):(?P<line>\d+)(?::\d+)?:?\s*(?P<msg>.+)", line.strip())
        if match:
            found.append(Finding(match.group("file").removeprefix("./"), int(match.group("line")),
                                 f"{name}: {match.group('msg')}", "warning"))
    return found


def lint(path: Path) -> list[Finding]:
    """Every finding of the bundle at `path`; errors first."""
    path = Path(path)
    try:
        bundle = load_bundle(path)
    except ValueError as e:
        return [Finding(_file_of(str(e), path), None, str(e).split(": ", 1)[-1])]
    findings: list[Finding] = []
    try:
        if bundle.options is not None:
            opts.check_document(bundle.options)
    except DomainError as e:
        key = (e.field or "").rsplit(".", 1)[-1]
        return [Finding("options.json", _line_of(path / "options.json", key), e.message)]
    findings += check_template(bundle)
    if bundle.orchestrator is None:
        findings.append(Finding("playbook.yml", None, "the bundle has no playbook.yml"))
    else:
        findings += playbook.check(bundle.orchestrator, bundle.orchestrator_format)
    findings += _linter("yamllint", ["-f", "parsable", "."], path)
    if (path / "playbook.yml").exists():
        findings += _linter("ansible-lint", ["-p", "--nocolor", "playbook.yml"], path)
    return sorted(findings, key=lambda f: (f.level != "error", f.file, f.line or 0))

"""Container privileges: what a product's nodes may get beyond a plain container, and
the one parser of a node's `docker_opts` that checks every option by its value.

Which privileges a node may have is the administrator's decision, per product
(`privileges:` in product.yml, or the `privileges` field of POST/PATCH /products):

    privileges:
      capabilities: [SYS_ADMIN]          # --cap-add values a node may use
      devices: [/dev/fuse]               # host devices a node may be given
      security_opt: [apparmor=unconfined]

A template's `docker_opts` is only ever checked against that list: `--cap-add` of a
capability not listed, a device not listed, a security option not listed, are refused
naming the option and value. Some things no product may grant: `--cap-add ALL`,
`seccomp=...` and `systempaths=unconfined` (each amounts to `--privileged`). The rest
is bounded for every product: environment variable names (never the dynamic loader's
or an interpreter's start-up hooks), tmpfs and shm sizes, ulimits. Registration checks
this (a 400 naming the node) and each engine checks it again before it starts a
container: a registry row written some other way gets no more than the product allows.
"""
from __future__ import annotations

import re
import shlex

from api.core.errors import Invalid

KINDS = ("capabilities", "devices", "security_opt")
MAX_ENTRIES = 32
MAX_TEXT = 4096  # characters of one node's docker_opts
MAX_ENV_VALUE = 4096
MAX_SIZE = 16 * 2**30  # bytes of a tmpfs or of /dev/shm
ULIMITS = {"nofile": 1 << 20, "nproc": 1 << 20, "memlock": 1 << 40, "stack": 1 << 40,
           "core": 1 << 40, "fsize": 1 << 40, "msgqueue": 1 << 30, "sigpending": 1 << 20,
           "rtprio": 99, "nice": 40, "cpu": 1 << 40, "data": 1 << 40, "as": 1 << 40, "locks": 1 << 20}

CAPABILITY = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
DEVICE = re.compile(r"^/dev/[A-Za-z0-9][A-Za-z0-9_.+/-]{0,126}$")
SECURITY_OPT = re.compile(r"^(apparmor|label)=[A-Za-z0-9_.:/-]{1,128}$")
NEVER = {"capabilities": {"ALL"}}
# Hardening anyone may ask for.
ALWAYS_SECURITY = {"no-new-privileges", "no-new-privileges=true"}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Variables that make a program load or run code other than its own at start-up (the
# dynamic loader's, interpreters' and shells' hooks), or that replace where programs are
# found; and the platform's own (BDP_*), which the engine sets.
ENV_REFUSED = re.compile(
    r"^(LD_.*|DYLD_.*|_?JAVA_(TOOL_)?OPTIONS|JDK_JAVA_OPTIONS|PATH|PYTHON(PATH|HOME|STARTUP|INSPECT)"
    r"|PERL5(LIB|OPT)|PERLLIB|RUBY(LIB|OPT)|NODE_(OPTIONS|PATH)|BASH_ENV|ENV|SHELLOPTS|IFS"
    r"|GCONV_PATH|MALLOC_.*|GLIBC_TUNABLES|LOCPATH|NLSPATH|HOSTALIASES|RES_OPTIONS|BDP_.*)$",
    re.IGNORECASE)
TMPFS_FLAGS = {"rw", "ro", "noexec", "exec", "nosuid", "nodev"}
TMPFS_KEYS = {"size", "mode", "uid", "gid"}
TAKES_VALUE = {"--cap-add", "--cap-drop", "--device", "--security-opt", "--tmpfs", "--shm-size",
               "-e", "--env", "--ulimit"}
ALLOWED = sorted(TAKES_VALUE)


class DockerOptsError(ValueError):
    """A docker_opts option or value a node may not have; the message names it."""


# --- the administrator's side: a product's privileges --------------------------------------

def check(doc, field: str = "privileges") -> dict:
    """A product's privileges, normalised ({kind: sorted list}); Invalid naming the entry."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise Invalid(f"{field} must be a mapping of {', '.join(KINDS)}", field=field)
    out: dict[str, list[str]] = {}
    for kind, entries in doc.items():
        where = f"{field}.{kind}"
        if kind not in KINDS:
            raise Invalid(f"unknown privilege {kind!r}; privileges are {', '.join(KINDS)}", field=where)
        if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
            raise Invalid(f"{where} must be a list of at most {MAX_ENTRIES} strings", field=where)
        normal = []
        for i, entry in enumerate(entries):
            normal.append(_check_entry(kind, entry, f"{where}.{i}"))
        if normal:
            out[kind] = sorted(set(normal))
    return out


def _check_entry(kind: str, entry, where: str) -> str:
    if not isinstance(entry, str):
        raise Invalid(f"{where} must be a string", field=where)
    if kind == "capabilities":
        value = entry.upper().removeprefix("CAP_")
        if value in NEVER["capabilities"] or not CAPABILITY.match(value):
            raise Invalid(f"capability {entry!r} cannot be granted (name one capability, "
                          "e.g. SYS_ADMIN; ALL is --privileged)", field=where)
        return value
    if kind == "devices":
        if not DEVICE.match(entry) or ".." in entry.split("/"):
            raise Invalid(f"device {entry!r} must be a path under /dev, e.g. /dev/fuse", field=where)
        return entry
    value = _security(entry)
    if not SECURITY_OPT.match(value):
        raise Invalid(f"security option {entry!r} cannot be granted: only apparmor=<profile> and "
                      "label=<...> can (seccomp and systempaths ones amount to --privileged)", field=where)
    return value


def _security(value: str) -> str:
    """`apparmor:x` is docker's older spelling of `apparmor=x`."""
    if "=" not in value and ":" in value:
        value = value.replace(":", "=", 1)
    return value


# --- the template's side: a node's docker_opts ------------------------------------------------

def split(text: str) -> list[tuple[str, str]]:
    """(option, value) pairs of a docker_opts string; options outside ALLOWED refused by name."""
    if len(text or "") > MAX_TEXT:
        raise DockerOptsError(f"docker_opts: longer than {MAX_TEXT} characters")
    try:
        words = shlex.split(text or "")
    except ValueError as exc:
        raise DockerOptsError(f"docker_opts: cannot parse {text!r}: {exc}") from None
    pairs, i = [], 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and "=" in word:
            opt, value = word.split("=", 1)
            i += 1
        else:
            opt = word
            if opt in TAKES_VALUE and i + 1 >= len(words):
                raise DockerOptsError(f"docker_opts: option {opt!r} needs a value")
            value = words[i + 1] if i + 1 < len(words) else ""
            i += 2
        if opt not in TAKES_VALUE:
            raise DockerOptsError(f"docker_opts: option {opt!r} is not allowed "
                                  f"(allowed: {', '.join(ALLOWED)})")
        pairs.append((opt, value))
    return pairs


def parse(text: str, privileges: dict | None) -> list[tuple[str, str]]:
    """The (option, value) pairs of a node's docker_opts, each allowed by its value under
    the product's `privileges`; DockerOptsError naming the first that is not."""
    granted = privileges or {}
    pairs = split(text)
    for opt, value in pairs:
        problem = _CHECKS[opt](value, granted)
        if problem:
            raise DockerOptsError(f"docker_opts: {opt} {value!r}: {problem}")
    return pairs


def _granted(granted: dict, kind: str) -> str:
    listed = granted.get(kind) or []
    return f"this product grants {', '.join(listed)}" if listed else "this product grants none"


def _cap_add(value: str, granted: dict) -> str | None:
    name = value.upper().removeprefix("CAP_")
    if name in (granted.get("capabilities") or []):
        return None
    return f"the capability is not among the product's privileges ({_granted(granted, 'capabilities')})"


def _cap_drop(value: str, granted: dict) -> str | None:
    name = value.upper().removeprefix("CAP_")
    return None if name == "ALL" or CAPABILITY.match(name) else "not a capability name"


def _device(value: str, granted: dict) -> str | None:
    parts = value.split(":")
    perms = "rwm"
    if len(parts) == 2 and re.fullmatch(r"[rwm]+", parts[1]):
        parts, perms = [parts[0], parts[0]], parts[1]
    elif len(parts) == 3:
        perms = parts.pop()
    host, inside = (parts * 2)[:2] if len(parts) == 1 else (parts + [""])[:2]
    if len(parts) > 2 or not DEVICE.match(host) or not DEVICE.match(inside) or \
            not re.fullmatch(r"[rwm]{1,3}", perms):
        return "expected /dev/HOST[:/dev/CONTAINER][:rwm]"
    if host not in (granted.get("devices") or []):
        return f"the device is not among the product's privileges ({_granted(granted, 'devices')})"
    return None


def _security_opt(value: str, granted: dict) -> str | None:
    normal = _security(value)
    if normal in ALWAYS_SECURITY or normal in (granted.get("security_opt") or []):
        return None
    return f"the security option is not among the product's privileges ({_granted(granted, 'security_opt')})"


def _env(value: str, granted: dict) -> str | None:
    name, _, val = value.partition("=")
    if not ENV_NAME.match(name):
        return "not a variable name (letters, digits and _)"
    if ENV_REFUSED.match(name):
        return f"{name} changes what programs load or run at start-up; no node may set it"
    if len(val) > MAX_ENV_VALUE:
        return f"the value is longer than {MAX_ENV_VALUE} characters"
    return None


def size_bytes(text: str) -> int | None:
    match = re.fullmatch(r"(\d{1,15})([bkmg]?)", text.strip().lower())
    if not match:
        return None
    return int(match.group(1)) * {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}[match.group(2)]


def _tmpfs(value: str, granted: dict) -> str | None:
    path, _, options = value.partition(":")
    if not re.fullmatch(r"/[A-Za-z0-9_.+/-]{0,254}", path) or ".." in path.split("/") or \
            path.rstrip("/").split("/")[1] in ("proc", "sys", "dev", ""):
        return "expected an absolute path outside /proc, /sys and /dev"
    size = None
    for item in filter(None, options.split(",")):
        key, eq, setting = item.partition("=")
        if (eq and key not in TMPFS_KEYS) or (not eq and item not in TMPFS_FLAGS):
            return f"tmpfs option {item!r} is not allowed"
        if key == "size":
            size = size_bytes(setting)
    if size is None or size > MAX_SIZE:
        return f"give size=, at most {MAX_SIZE // 2**30}g"
    return None


def _shm_size(value: str, granted: dict) -> str | None:
    size = size_bytes(value)
    return None if size is not None and 0 < size <= MAX_SIZE else f"at most {MAX_SIZE // 2**30}g"


def _ulimit(value: str, granted: dict) -> str | None:
    name, _, limits = value.partition("=")
    soft, _, hard = limits.partition(":")
    if name not in ULIMITS:
        return f"unknown ulimit (known: {', '.join(sorted(ULIMITS))})"
    try:
        low, high = int(soft), int(hard or soft)
    except ValueError:
        return "expected name=soft[:hard]"
    if not 0 <= low <= high <= ULIMITS[name]:
        return f"expected 0 <= soft <= hard <= {ULIMITS[name]}"
    return None


_CHECKS = {"--cap-add": _cap_add, "--cap-drop": _cap_drop, "--device": _device,
           "--security-opt": _security_opt, "-e": _env, "--env": _env, "--tmpfs": _tmpfs,
           "--shm-size": _shm_size, "--ulimit": _ulimit}

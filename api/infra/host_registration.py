"""Registering hosts: an admin adds a Docker endpoint, drains it, activates it, removes it.

`parse_host` checks a POST body and says which field is wrong; `register` asks the
engine about the host (its `docker info`: cpus, memory), has the engine create the
data-disk directories on the host, and only then writes the host and its disks in one
transaction, so a host that does not answer or cannot make its disks leaves nothing.
TLS client certificates are paths of files on the platform host: the registry keeps
the paths, never the key material.
"""
from __future__ import annotations

import ipaddress
import os
import posixpath
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from peewee import IntegrityError

from api.core.errors import Conflict, Invalid, NotFound
from api.core.models import Disk, Host, Interface, Node, db, utcnow
from api.core.status import NodeStatus, record
from api.infra.host import ACTIVE, DRAIN

NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
FIELDS = ("name", "url", "disks", "labels", "tls", "cpus", "mem", "address")
PATCH_FIELDS = ("state", "labels", "cpus", "mem")
# What a drain or an activation tells the admins' event stream (no cluster's: the host's).
STATE_EVENTS = {DRAIN: "host {host} drained: no new node goes there; its nodes stay",
                ACTIVE: "host {host} active: it takes new nodes again"}
MAX_DISKS = 256
MAX_LABELS = 64


@dataclass
class HostRequest:
    name: str
    url: str
    disks: list[tuple[str, str]] = field(default_factory=list)  # (name, path)
    labels: dict[str, str] = field(default_factory=dict)
    tls: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    mem: int | None = None
    address: str = ""


def _object(body, what: str) -> dict:
    if not isinstance(body, dict):
        raise Invalid(f"the body must be a JSON object with {what}", field="body")
    return body


def _unknown(body: dict, known: tuple[str, ...]) -> None:
    extra = sorted(set(body) - set(known))
    if extra:
        raise Invalid(f"unknown field {extra[0]!r} (known: {', '.join(known)})", field=extra[0])


def parse_url(url) -> tuple[str, str]:
    """The URL as given, and the host part (the host's address when the URL names one)."""
    if not isinstance(url, str) or not url:
        raise Invalid("url is required: a Docker endpoint, unix://, tcp:// or ssh://", field="url")
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path.startswith("/") or parts.netloc:
            raise Invalid("a unix:// url names an absolute socket path: unix:///var/run/docker.sock",
                          field="url")
        return url, ""
    if parts.scheme not in ("tcp", "ssh"):
        raise Invalid(f"url {url!r} is not a Docker endpoint: use unix://, tcp:// or ssh://",
                      field="url")
    try:
        port = parts.port
    except ValueError:
        raise Invalid(f"url {url!r} has a bad port", field="url") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise Invalid(f"url {url!r} must be {parts.scheme}://HOST[:PORT] and nothing more",
                      field="url")
    if parts.scheme == "tcp" and port is None:
        raise Invalid("a tcp:// url needs the port, e.g. tcp://192.168.250.11:2376", field="url")
    return url, parts.hostname


def _disks(value) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_DISKS:
        raise Invalid(f"disks must be a list of at most {MAX_DISKS} absolute paths", field="disks")
    out, names = [], {}
    for i, path in enumerate(value):
        where = f"disks.{i}"
        if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
            raise Invalid(f"disk {path!r} is not an absolute path", field=where)
        norm = posixpath.normpath(path)
        if norm != path.rstrip("/") or norm == "/" or ".." in norm.split("/"):
            raise Invalid(f"disk {path!r} must be a plain absolute directory, like /srv/bdp/d1",
                          field=where)
        name = posixpath.basename(norm)
        if not LABEL_KEY.match(name):
            raise Invalid(f"disk {path!r}: its last part names the disk and must be letters, "
                          "digits, '.', '-' or '_'", field=where)
        if name in names:
            raise Invalid(f"disks {names[name]} and {path} would both be named {name!r} "
                          "(a disk is named by its last part)", field=where)
        names[name] = path
        out.append((name, norm))
    return out


def _labels(value) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise Invalid(f"labels must be an object of at most {MAX_LABELS} strings", field="labels")
    for key, val in value.items():
        if not LABEL_KEY.match(key):
            raise Invalid(f"label {key!r}: letters, digits, '.', '-' or '_'", field=f"labels.{key}")
        if not isinstance(val, str) or len(val) > 256:
            raise Invalid(f"label {key} must be a string of at most 256 characters",
                          field=f"labels.{key}")
    return dict(value)


def _tls(value, url: str) -> dict[str, str]:
    if value is None:
        return {}
    if not url.startswith("tcp://"):
        raise Invalid("tls is for tcp:// urls", field="tls")
    if not isinstance(value, dict):
        raise Invalid("tls must be {\"ca\", \"cert\", \"key\"}: paths of files on the platform host",
                      field="tls")
    _unknown({f"tls.{k}": v for k, v in value.items()}, ("tls.ca", "tls.cert", "tls.key"))
    for key in ("ca", "cert", "key"):
        path = value.get(key)
        if not isinstance(path, str) or not path.startswith("/"):
            raise Invalid(f"tls.{key} must be the absolute path of a file on the platform host",
                          field=f"tls.{key}")
        if not os.path.isfile(path) or not os.access(path, os.R_OK):
            raise Invalid(f"tls.{key}: {path} is not a file the platform can read",
                          field=f"tls.{key}")
    return {k: value[k] for k in ("ca", "cert", "key")}


def _number(value, name: str, kind):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 \
            or (kind is int and not float(value).is_integer()) or value > 2**40:
        raise Invalid(f"{name} must be a positive {'whole ' if kind is int else ''}number", field=name)
    return kind(value)


def parse_host(body) -> HostRequest:
    """The POST /hosts body, checked; Invalid names the field at fault."""
    body = _object(body, "name and url")
    _unknown(body, FIELDS)
    name = body.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise Invalid("name is required: 1-63 letters, digits, '.' or '-'", field="name")
    url, url_host = parse_url(body.get("url"))
    address = body.get("address", url_host)
    try:
        address = str(ipaddress.ip_address(address)) if address else ""
    except ValueError:
        if "address" in body:
            raise Invalid(f"address {address!r} is not an IP address", field="address") from None
        address = url_host  # a host name: resolved when a segment needs it
    return HostRequest(name=name, url=url, disks=_disks(body.get("disks")),
                       labels=_labels(body.get("labels")), tls=_tls(body.get("tls"), url),
                       cpus=_number(body.get("cpus"), "cpus", float),
                       mem=_number(body.get("mem"), "mem", int), address=address)


def register(engine, req: HostRequest) -> Host:
    """Check the host through the engine (one with the HOSTS capability: the caller
    makes sure), make its disks, then record it (all or nothing)."""
    if Host.get_or_none(Host.name == req.name) is not None:
        raise Conflict(f"host {req.name} already exists", field="name")
    same = Host.get_or_none((Host.url == req.url) & (Host.url != ""))
    if same is not None:
        raise Conflict(f"host {same.name} already has url {req.url}", field="url")
    try:
        info = engine.describe_host(req.name, req.url, req.tls, req.address)
        engine.prepare_disks(req.name, [p for _, p in req.disks], url=req.url, tls=req.tls)
    except Exception as exc:  # the engine's own errors: unreachable, refused, helper failed
        field_ = "url" if "does not answer" in str(exc) else "disks"
        raise Invalid(f"host {req.name}: {exc}", field=field_) from None
    try:
        with db.atomic():
            host = Host.create(
                name=req.name, engine=engine.name, url=req.url, tls=req.tls, labels=req.labels,
                address=req.address, cpus=req.cpus or info.cpus, mem=req.mem or info.mem,
                cpus_override=req.cpus, mem_override=req.mem, attributes=info.attributes,
                state=ACTIVE, active=True, last_seen=utcnow())
            for name, path in req.disks:
                Disk.create(host=host, name=name, path=path)
            # From now on the embedded engine takes no new node, not from the next probe.
            Host.update(active=False).where((Host.url == "") & (Host.engine == engine.name)).execute()
    except IntegrityError:
        raise Conflict(f"host {req.name} already exists", field="name") from None
    return host


def find(name: str) -> Host:
    host = Host.get_or_none(Host.name == name)
    if host is None:
        raise NotFound(f"no host {name}")
    return host


def update(host: Host, body) -> Host:
    """PATCH: state (active | drain), labels, cpus or mem (null: the engine's again)."""
    body = _object(body, "state, labels, cpus or mem")
    _unknown(body, PATCH_FIELDS)
    values = {}
    if "state" in body:
        if body["state"] not in (ACTIVE, DRAIN):
            raise Invalid("state must be \"active\" or \"drain\" (a host is lost on its own)",
                          field="state")
        values["state"] = body["state"]
    if "labels" in body:
        values["labels"] = _labels(body["labels"])
    for key, kind in (("cpus", float), ("mem", int)):
        if key in body:
            value = _number(body[key], key, kind)
            values[f"{key}_override"] = value
            if value is not None:
                values[key] = value
    if values:
        with db.atomic():
            Host.update(**values).where(Host.id == host.id).execute()
            if values.get("state", host.state) != host.state:  # an event of the platform's
                record(None, "api", STATE_EVENTS[values["state"]].format(host=host.name),
                       level="warning" if values["state"] == DRAIN else "info")
    return Host.get_by_id(host.id)


def remove(host: Host) -> None:
    """DELETE: refused while nodes live there or wait there to be cleaned up."""
    living = (Node.select(Node.name, Node.cluster).where(
        (Node.host == host) & Node.status.in_(NodeStatus.HOLDING)))
    pending = (Disk.select().where((Disk.host == host) & Disk.node.is_null(False)).count()
               + Interface.select().join(Node).where((Node.host == host) & Interface.address.is_null(False)
                                                     & (Node.status == NodeStatus.DESTROYED)).count())
    if living.exists() or pending:
        count = living.count()
        raise Conflict(f"host {host.name} still has {count} node(s)"
                       + (" and data of destroyed nodes to clean up" if pending else "")
                       + "; drain it and destroy or move its clusters first", field="name")
    with db.atomic():
        Node.update(host=None).where(Node.host == host).execute()
        Disk.delete().where(Disk.host == host).execute()
        host.delete_instance()

"""Pydantic models of the API's request and response bodies (they also generate
/openapi.json). The schema a rendered cluster template must meet is the catalog's
(`api/catalog/document.py`).

Size: one small model per body the API takes or answers, kept together so the API's
shapes read in one place; each is a few declarative lines."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from api.catalog.document import Name


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- requests ---------------------------------------------------------------------

class ProductCreate(Strict):
    name: Name
    version: Name
    description: str = ""
    logo_url: str = ""
    # Optional extras so a whole bundle can be created (and checked) in one call.
    options: dict[str, Any] | None = None
    template: str | None = None
    template_format: Literal["json", "yaml"] = "json"
    # What nodes may get beyond a plain container: capabilities, devices, security_opt.
    privileges: dict[str, list[str]] | None = None


class ProductPatch(Strict):
    """Several parts of a product changed together and checked together."""
    description: str | None = None
    logo_url: str | None = None
    options: dict[str, Any] | None = None
    template: str | None = None
    template_format: Literal["json", "yaml"] | None = None
    image: str | None = None  # the product's node image, bdp/<name>:<version> ("" for none)
    image_hash: str | None = None  # what its image/ directory was (bdp products load sends it)
    privileges: dict[str, list[str]] | None = None
    # What it declares about life after launch: resize, auto_replace, lifetime.
    day2: dict[str, Any] | None = None


class LogoURL(Strict):
    logo_url: str


class LaunchOptions(RootModel[dict[str, Any]]):
    """Option values for a launch, e.g. {"size": 2}; missing ones take the defaults."""


class UserCreate(Strict):
    name: Name
    role: Literal["admin", "user"] = "user"


class TokenCreate(Strict):
    name: str = ""
    expires_days: float | None = Field(default=None, gt=0, le=36500)  # 100 years


class SSHKeys(Strict):
    ssh_keys: list[str]


# --- responses --------------------------------------------------------------------

class ErrorBody(BaseModel):
    status: int
    error: str
    message: str
    field: str | None = None


class Health(BaseModel):
    status: str
    database: str


class ProductList(BaseModel):
    products: list[str]


class VersionList(BaseModel):
    versions: list[str]


class ProductView(BaseModel):
    name: str
    version: str
    description: str
    logo_url: str
    uri: str
    options: dict[str, Any] | None
    template_format: str | None
    orchestrator_format: str | None
    privileges: dict[str, list[str]] = {}
    day2: dict[str, Any] = {}
    created: str
    updated: str


class Created(BaseModel):
    uri: str


class LaunchAccepted(BaseModel):
    cluster: str
    queue: str
    id: int
    status: str


class HealthProblem(BaseModel):
    """A dead or lost node (`node`), or a day-2 operation that failed (`operation`, `op`)."""
    node: str | None = None
    operation: int | None = None
    op: str | None = None
    status: str  # failed | lost (a node), failed (an operation)
    reason: str


class ClusterHealth(BaseModel):
    """healthy (every node runs), degraded (`problems` say which node and why) or unknown
    (not running yet, or no longer): apart from the lifecycle status."""
    status: str
    problems: list[HealthProblem] = []


class RenderPreview(BaseModel):
    cluster: str  # the URI a launch now would get
    options: dict[str, Any]
    document: dict[str, Any]
    nodes: int
    services: int


class ClusterView(BaseModel):
    id: int
    uri: str
    dn: str
    user: str
    product: str
    version: str
    status: str
    reason: str
    progress: int
    step: str
    dnsname: str
    options: dict[str, Any]
    nodes: list[str] | None = None
    services: list[str] | None = None
    created: str
    updated: str
    status_since: str
    health: ClusterHealth | None = None
    # The operation it runs, or runs next (api/clusters/operations.py); none when idle.
    operation: dict[str, Any] | None = None
    expires: str | None = None  # when the platform destroys it (a lifetime); None: never
    auto_replace: bool | None = None  # None: as its product says


class ClusterList(BaseModel):
    clusters: list[ClusterView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class NodeDiskView(BaseModel):
    name: str
    destination: str
    mode: str
    type: str
    disk: str | None
    path: str | None


class NodeNetworkView(BaseModel):
    device: str
    networkname: str
    type: str
    address: str | None
    subnet: str | None = None  # the interface's segment (its tenant's slice of the network)


class NodeView(BaseModel):
    name: str
    status: str
    reason: str
    host: str | None
    id: str
    cpu: float
    mem: int
    port: int
    check_ports: list[int]
    tags: list[str]
    required_host: str
    docker_image: str
    docker_opts: str
    disks: list[NodeDiskView]
    networks: list[NodeNetworkView]


class NodeList(BaseModel):
    nodes: list[NodeView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class ServiceView(BaseModel):
    name: str
    nodes: list[str]
    properties: dict[str, Any]


class ServiceList(BaseModel):
    services: list[ServiceView]


class EndpointView(BaseModel):
    name: str
    service: str
    node: str
    port: int
    protocol: str  # http: open `url` (the API's proxy); tcp: run `command` (a tunnel)
    path: str
    url: str | None
    command: str | None
    reachable: bool  # whether the cluster's nodes run now (the proxy and tunnels answer)


class EndpointList(BaseModel):
    endpoints: list[EndpointView]


class EventView(BaseModel):
    id: int | None = None  # also the SSE event id (Last-Event-ID)
    time: str
    component: str
    level: str
    message: str


class EventList(BaseModel):
    events: list[EventView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class JobView(Loose):
    """A launch, a destroy or a day-2 operation (`/queue/<id>`)."""
    id: int
    uri: str
    kind: str
    op: str
    cluster: str
    status: str  # pending | running | succeeded | failed | cancelled
    cluster_status: str
    progress: int
    step: str
    reason: str
    done: bool
    created: str
    started: str
    finished: str
    result: Any = None
    run: int | None = None
    who: str = ""
    params: dict[str, Any] = {}


class QuotaLimits(RootModel[dict[str, Any]]):
    """{"clusters": 2, "nodes": 10, "cpus": 8, "memory": 8192, "disks": 20}; null: no limit."""


class QuotaView(Loose):
    user: str
    limits: dict[str, Any]
    use: dict[str, Any]
    default: bool


class JobList(BaseModel):
    operations: list[JobView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class OperationRequest(RootModel[dict[str, Any]]):
    """{"op": "restart"}, {"op": "resize", "options": {"size": 5}}, {"op": "replace",
    "nodes": ["compute2"]}, {"op": "extend", "lifetime": "4h"}, {"op": "repair"}..."""


class UserView(BaseModel):
    name: str
    role: str
    ssh_keys: list[str]
    created: str


class UserList(BaseModel):
    users: list[UserView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class TokenView(BaseModel):
    id: int
    name: str
    expires: str | None
    created: str


class TokenList(BaseModel):
    tokens: list[TokenView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class StreamSession(BaseModel):
    user: str
    expires: str | None  # when the stream cookie ends (None: auth is off, none is needed)


class TokenCreated(TokenView):
    token: str  # shown once; only its digest is kept
    capped: bool = False  # expiry cut to that of the token that created it
    note: str | None = None


class OptionsDocument(Strict):
    """A product's options: required keys (example values), optional and advanced
    keys (defaults), a description of each, and optionally the JSON Schema (Draft
    2020-12) of each option's value (checked by `api/catalog/options.py`)."""
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    advanced: dict[str, Any] = {}
    descriptions: dict[str, Any] = {}
    # `schema` is an attribute of BaseModel: the field takes the name through an alias.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")


# --- responses of the infrastructure, logs and actions (loose: extra fields allowed, so
# an added field never turns an answer into a validation error) -----------------------

class DestroyAccepted(Loose):
    cluster: str
    queue: str | None
    id: int
    status: str


class RunView(Loose):
    id: int
    action: str
    status: str
    result: str
    rc: int | None
    summary: str
    events: list[dict[str, Any]]
    started: str | None
    finished: str | None
    output: str | None = None


class RunList(BaseModel):
    runs: list[RunView]
    next: str | None = None  # the URL of the next page (api/http/pagination.py)


class HostResources(BaseModel):
    cpus: float
    mem: int  # MB
    disks: int


class HostView(Loose):
    """A host: totals, used and free; state (active | drain | lost) and last seen. Users
    see no `url`, `address`, `tls`, `disk_paths`, `warning` (plain tcp) or `overrides`."""
    name: str
    engine: str
    address: str | None = None
    url: str | None = None
    cpus: float
    mem: int
    disks: int
    active: bool
    state: str = "active"
    state_reason: str = ""
    last_seen: str = ""
    labels: dict[str, str] = {}
    total: HostResources | None = None
    used: HostResources | None = None
    free: HostResources | None = None
    warning: str | None = None
    attributes: dict[str, Any]


class HostTLS(BaseModel):
    ca: str | None = None  # paths of files on the platform host, never their contents
    cert: str
    key: str


class HostCreate(BaseModel):
    """POST /hosts (documented here; the resource checks it field by field)."""
    name: str
    url: str  # unix:///path, tcp://HOST:PORT (plain: trusted networks only; or with tls), ssh://USER@HOST
    disks: list[str] = []
    labels: dict[str, str] = {}
    tls: HostTLS | None = None
    cpus: float | None = None
    mem: int | None = None
    address: str | None = None


class HostPatch(BaseModel):
    """PATCH /hosts/<name> (documented here; the resource checks it field by field)."""
    state: Literal["active", "drain"] | None = None
    labels: dict[str, str] | None = None
    cpus: float | None = None  # null: the engine's again
    mem: int | None = None


class HostList(RootModel[list[HostView]]):
    """Every host the engine offers, with what is free on it."""


class DiskView(Loose):
    name: str
    path: str
    type: str
    status: str


class DiskList(RootModel[list[DiskView]]):
    """A host's data disks; an owner only to whoever may see that cluster."""


class NetworkView(Loose):
    name: str
    description: str
    subnet: str
    gateway: str
    range_start: str
    range_end: str
    total: int
    used: int
    free: int


class NetworkList(RootModel[list[NetworkView]]):
    """Every named network with its free addresses."""


class NetworkCreate(BaseModel):
    """POST /networks (documented here; the resource checks it field by field)."""
    name: str
    subnet: str
    description: str = ""
    gateway: str | None = None
    range_start: str | None = None
    range_end: str | None = None
    driver: Literal["bridge", "macvlan", "overlay"] = "bridge"
    isolation: Literal["tenant", "shared"] | None = None  # default: tenant for bridge networks
    segment_prefix: int | None = None  # bits of each tenant's segment (default 24)
    parent: str | None = None  # macvlan: the interface every host has on the site L2


class AddressView(Loose):
    address: str
    status: str


class AddressList(RootModel[list[AddressView]]):
    """A network's addresses (?free, ?used or ?full)."""


class SSHKeyList(BaseModel):
    ssh_keys: list[str]


class LogoView(BaseModel):
    logo_url: str


class AnyObject(RootModel[dict[str, Any]]):
    """A JSON object."""

"""Pydantic models: request and response bodies (they also generate /openapi.json)
and the schema a rendered cluster template must meet."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, model_validator

# Names end up in URLs, container names and image tags: keep them plain.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
Device = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,14}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class ProductPatch(Strict):
    """Several parts of a product changed together and checked together."""
    description: str | None = None
    logo_url: str | None = None
    options: dict[str, Any] | None = None
    template: str | None = None
    template_format: Literal["json", "yaml"] | None = None


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
    created: str
    updated: str


class Created(BaseModel):
    uri: str


class LaunchAccepted(BaseModel):
    cluster: str
    queue: str
    id: int
    status: str


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


class ClusterList(BaseModel):
    clusters: list[ClusterView]


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


class ServiceView(BaseModel):
    name: str
    nodes: list[str]
    properties: dict[str, Any]


class ServiceList(BaseModel):
    services: list[ServiceView]


class EventView(BaseModel):
    time: str
    component: str
    level: str
    message: str


class EventList(BaseModel):
    events: list[EventView]


class JobView(BaseModel):
    id: int
    kind: str
    cluster: str
    status: str
    progress: int
    step: str
    reason: str
    done: bool
    created: str


class UserView(BaseModel):
    name: str
    role: str
    ssh_keys: list[str]
    created: str


class UserList(BaseModel):
    users: list[UserView]


class TokenView(BaseModel):
    id: int
    name: str
    expires: str | None
    created: str


class TokenList(BaseModel):
    tokens: list[TokenView]


class TokenCreated(TokenView):
    token: str  # shown once; only its digest is kept


# --- the rendered cluster template --------------------------------------------------

class TemplateDisk(Strict):
    destination: Annotated[str, StringConstraints(pattern=r"^/")]
    mode: Literal["rw", "ro"] = "rw"
    type: str = ""
    origin: Name | None = None  # a host disk by name ("disk2"); None = any free one


class TemplateNetwork(Strict):
    type: Literal["dynamic", "static"] = "dynamic"
    networkname: Name


class TemplateNode(Strict):
    docker_image: Annotated[str, StringConstraints(min_length=1)]
    docker_opts: str = ""
    cpu: float = Field(default=1, gt=0, le=4096)
    mem: int = Field(default=1024, gt=0, le=2**40)  # MB
    port: int = Field(default=22, ge=1, le=65535)
    check_ports: list[Annotated[int, Field(ge=1, le=65535)]] = []
    tags: list[str] = []
    required_host: str = ""
    disks: dict[Name, TemplateDisk] = {}
    networks: dict[Device, TemplateNetwork] = {}


class TemplateService(BaseModel):
    """`nodes` plus any service properties the playbook reads."""
    model_config = ConfigDict(extra="allow")
    nodes: list[HostName]


class TemplateDocument(Strict):
    dnsname: str = ""
    nodes: dict[HostName, TemplateNode] = Field(min_length=1, max_length=5000)
    services: dict[Name, TemplateService] = {}

    @model_validator(mode="after")
    def _named_disks_unique_per_host(self):
        # A host disk serves one node disk. Nodes that may land on different hosts can
        # name the same disk (placement keeps them apart); one node, or nodes pinned to
        # one required_host, cannot.
        taken: dict[tuple[str, str], str] = {}
        for name, node in self.nodes.items():
            for disk, spec in node.disks.items():
                if spec.origin is None:
                    continue
                key = (node.required_host or f"node:{name}", spec.origin)
                if key in taken:
                    raise TemplateNodeError(
                        f"nodes.{name}.disks.{disk}.origin",
                        f"node {name} disk {disk} names host disk {spec.origin!r}, which "
                        f"{taken[key]} already names on the same host")
                taken[key] = f"node {name} disk {disk}"
        return self

    @model_validator(mode="after")
    def _services_name_nodes(self):
        for name, service in self.services.items():
            for i, node in enumerate(service.nodes):
                if node not in self.nodes:
                    raise TemplateNodeError(f"services.{name}.nodes.{i}",
                                            f"service {name!r} names node {node!r}, "
                                            "which the template does not define")
        return self


class TemplateNodeError(ValueError):
    """A rendered document that is well-formed but inconsistent (carries the field path)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


class OptionsDocument(Strict):
    """A product's options: required keys (example values), optional and advanced
    keys (defaults), and a description of each."""
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    advanced: dict[str, Any] = {}
    descriptions: dict[str, Any] = {}

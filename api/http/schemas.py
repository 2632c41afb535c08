"""Pydantic models of the API's request and response bodies (they also generate
/openapi.json). The schema a rendered cluster template must meet is the catalog's
(`api/catalog/document.py`)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from api.catalog.document import Name


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
    image: str | None = None  # the product's node image, bdp/<name>:<version> ("" for none)
    image_hash: str | None = None  # what its image/ directory was (bdp products load sends it)


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

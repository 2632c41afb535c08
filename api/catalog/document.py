"""The schema a rendered cluster template must meet (the seed's document format):
`{"dnsname", "nodes": {name: node}, "services": {name: {"nodes": [...], ...}}}`."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# Names end up in URLs, container names and image tags: keep them plain.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
HostName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")]
Device = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{0,14}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    # A container gets cpu * 1e9 NanoCpus: 1e-9 was one, and went `ready`.
    cpu: float = Field(default=1, ge=0.01, le=4096)
    mem: int = Field(default=1024, ge=6, le=2**40)  # MB; Docker refuses limits under 6 MB
    port: int = Field(default=22, ge=1, le=65535)
    check_ports: list[Annotated[int, Field(ge=1, le=65535)]] = []
    tags: list[str] = []
    required_host: str = ""
    disks: dict[Name, TemplateDisk] = {}
    networks: dict[Device, TemplateNetwork] = {}


class TemplateEndpoint(Strict):
    """A port of a node users reach from their own machine (issue 14): `http` ones through
    the API's proxy (`path` is where the UI starts), `tcp` ones through a tunnel."""
    name: Name
    node: HostName
    port: int = Field(ge=1, le=65535)
    protocol: Literal["http", "tcp"] = "http"
    path: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_.~/-]{0,255}$")] = "/"
    # The proxy takes its own path off before a request reaches the node; a UI that serves
    # itself under that path (Jupyter's base_url) keeps it: false.
    strip_prefix: bool = True


class TemplateService(BaseModel):
    """`nodes` plus any service properties the playbook reads."""
    model_config = ConfigDict(extra="allow")
    nodes: list[HostName]
    endpoints: list[TemplateEndpoint] = Field(default=[], max_length=256)


class TemplatePlacement(Strict):
    """How the cluster's nodes are spread over hosts. `anti_affinity`: tag patterns
    (fnmatch, e.g. "pair*"); nodes sharing a tag that matches one never share a host."""
    strategy: Literal["spread", "binpack"] = "spread"
    anti_affinity: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = \
        Field(default=[], max_length=16)


class TemplateDocument(Strict):
    dnsname: str = ""
    placement: TemplatePlacement = TemplatePlacement()
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

    @model_validator(mode="after")
    def _endpoints_name_nodes(self):
        seen: set[str] = set()
        for name, service in self.services.items():
            for i, endpoint in enumerate(service.endpoints):
                field = f"services.{name}.endpoints.{i}"
                if endpoint.node not in self.nodes:
                    raise TemplateNodeError(f"{field}.node", f"endpoint {endpoint.name!r} names node "
                                            f"{endpoint.node!r}, which the template does not define")
                if endpoint.name in seen:  # one name per cluster: it is a path of the proxy
                    raise TemplateNodeError(f"{field}.name", f"endpoint name {endpoint.name!r} "
                                            "is used twice in the cluster")
                seen.add(endpoint.name)
        return self


class TemplateNodeError(ValueError):
    """A rendered document that is well-formed but inconsistent (carries the field path)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message

"""The registry: every record the platform keeps, as peewee models.

One database holds them all (SQLite by default, PostgreSQL for a split control plane).
Nothing the platform needs to resume work lives only in memory: statuses, leases,
allocations and run logs are all here.
"""
from __future__ import annotations

import datetime as dt
import json

from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

db = DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class JSONField(TextField):
    """JSON stored as text: portable across SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value):
        return None if value is None else json.loads(value)


class BaseModel(Model):
    class Meta:
        database = db


class User(BaseModel):
    name = CharField(unique=True)
    role = CharField(default="user")  # "admin" | "user"
    ssh_keys = JSONField(default=list)  # the user's registered public keys
    created = DateTimeField(default=utcnow)


class Token(BaseModel):
    user = ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    # sha256 of the token: a stolen database does not hand out working tokens.
    digest = CharField(unique=True)
    name = CharField(default="")
    expires = DateTimeField(null=True)
    created = DateTimeField(default=utcnow)


class Product(BaseModel):
    name = CharField()
    version = CharField()
    description = TextField(default="")
    logo_url = TextField(default="")
    template = TextField(null=True)
    template_format = CharField(default="json")  # "json" | "yaml"
    options = JSONField(null=True)  # {"required": {}, "optional": {}, "advanced": {}, "descriptions": {}}
    orchestrator = BlobField(null=True)  # playbook YAML, or a tar.gz bundle
    orchestrator_format = CharField(default="yaml")  # "yaml" | "tar.gz"
    image = CharField(default="")  # docker image to build for this product, "" = none
    image_hash = CharField(default="")  # files hash of the bundle's image/ when loaded
    created = DateTimeField(default=utcnow)
    updated = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("name", "version"), True),)


class Host(BaseModel):
    name = CharField(unique=True)
    engine = CharField(default="docker")
    address = CharField(default="")
    cpus = FloatField(default=0)
    mem = IntegerField(default=0)  # MB
    attributes = JSONField(default=dict)
    active = BooleanField(default=True)
    last_seen = DateTimeField(default=utcnow)


class Network(BaseModel):
    name = CharField(unique=True)
    description = TextField(default="")
    subnet = CharField()  # CIDR, e.g. 10.30.0.0/24
    gateway = CharField()
    range_start = CharField()
    range_end = CharField()
    created = DateTimeField(default=utcnow)


class Cluster(BaseModel):
    user = ForeignKeyField(User, backref="clusters")
    product = ForeignKeyField(Product, backref="clusters")
    seq = IntegerField()  # per user/product/version, as the seed's ".../<id>"
    status = CharField(default="registered", index=True)
    reason = TextField(default="")
    progress = IntegerField(default=0)  # percent of the current phase
    step = CharField(default="")  # "k/n" of the current phase
    options = JSONField(default=dict)
    dnsname = CharField(default="")
    document = JSONField(default=dict)  # the rendered template
    ssh_public_key = TextField(default="")
    # Leases: which controller works on this cluster, and until when.
    lease_owner = CharField(null=True)
    lease_expires = DateTimeField(null=True)
    status_since = DateTimeField(default=utcnow)
    created = DateTimeField(default=utcnow)
    updated = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "product", "seq"), True),)

    @property
    def dn(self) -> str:
        """The cluster's distinguished name, also its path under /clusters."""
        return f"clusters/{self.user.name}/{self.product.name}/{self.product.version}/{self.seq}"


class Node(BaseModel):
    cluster = ForeignKeyField(Cluster, backref="nodes", on_delete="CASCADE")
    name = CharField()
    status = CharField(default="queued")  # core.status.NodeStatus
    reason = TextField(default="")
    host = ForeignKeyField(Host, null=True, backref="nodes")
    cpu = FloatField(default=1)
    mem = IntegerField(default=1024)
    port = IntegerField(default=22)
    check_ports = JSONField(default=list)
    tags = JSONField(default=list)
    required_host = CharField(default="")
    docker_image = CharField(default="")
    docker_opts = TextField(default="")
    container_id = CharField(default="")  # the seed's node "id"

    class Meta:
        indexes = ((("cluster", "name"), True),)


class Disk(BaseModel):
    """A data disk of a host, allocated whole to one node at a time."""
    host = ForeignKeyField(Host, backref="disks", on_delete="CASCADE")
    name = CharField()
    path = TextField()
    type = CharField(default="sata")
    node = ForeignKeyField(Node, null=True, backref="host_disks", on_delete="SET NULL")

    class Meta:
        indexes = ((("host", "name"), True),)


class NodeDisk(BaseModel):
    """A disk a node's template asks for, and the host disk that serves it."""
    node = ForeignKeyField(Node, backref="disks", on_delete="CASCADE")
    name = CharField()
    destination = CharField()
    mode = CharField(default="rw")
    type = CharField(default="")
    origin = CharField(null=True)  # the host disk named by the template, None = any free one
    disk = ForeignKeyField(Disk, null=True, on_delete="SET NULL")


class Interface(BaseModel):
    """A node's network interface (eth0, eth1, ...) on a named network."""
    node = ForeignKeyField(Node, backref="interfaces", on_delete="CASCADE")
    device = CharField()
    network = ForeignKeyField(Network, backref="interfaces")
    type = CharField(default="dynamic")
    address = CharField(null=True)


class Address(BaseModel):
    """An allocated address. The unique index is what makes allocation atomic."""
    network = ForeignKeyField(Network, backref="addresses", on_delete="CASCADE")
    address = CharField()
    interface = ForeignKeyField(Interface, null=True, backref="allocations", on_delete="CASCADE")
    allocated = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("network", "address"), True),)


class Service(BaseModel):
    cluster = ForeignKeyField(Cluster, backref="services", on_delete="CASCADE")
    name = CharField()
    nodes = JSONField(default=list)  # node names
    properties = JSONField(default=dict)


class Event(BaseModel):
    cluster = ForeignKeyField(Cluster, null=True, backref="events", on_delete="CASCADE")
    time = DateTimeField(default=utcnow, index=True)
    component = CharField()
    level = CharField(default="info")
    message = TextField()


class Job(BaseModel):
    """The seed's asynchronous job (`/queue/<id>`): one per launch or destroy request."""
    cluster = ForeignKeyField(Cluster, backref="jobs", on_delete="CASCADE")
    kind = CharField()  # "launch" | "destroy" | "action:<tag>"
    created = DateTimeField(default=utcnow)


class Run(BaseModel):
    """One orchestrator run of a product playbook."""
    cluster = ForeignKeyField(Cluster, backref="runs", on_delete="CASCADE")
    action = CharField()  # start | stop | restart | status
    status = CharField(default="running")  # core.status.RunStatus
    rc = IntegerField(null=True)
    started = DateTimeField(default=utcnow)
    finished = DateTimeField(null=True)
    stdout = TextField(default="")
    events = JSONField(default=list)  # per-task results
    summary = TextField(default="")


class State(BaseModel):
    """Small key/value facts a controller must keep across restarts (e.g. Mesos framework id)."""
    key = CharField(unique=True)
    value = TextField()


ALL_MODELS = [User, Token, Product, Host, Network, Cluster, Node, Disk, NodeDisk,
              Interface, Address, Service, Event, Job, Run, State]

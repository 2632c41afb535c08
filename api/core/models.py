"""The registry: every record the platform keeps, as peewee models.

One database holds them all (SQLite by default, PostgreSQL for a split control plane).
Nothing the platform needs to resume work lives only in memory: statuses, leases,
allocations and run logs are all here.
"""
from __future__ import annotations

import datetime as dt
import json

import peewee
from peewee import (
    BlobField,
    BooleanField,
    CharField,
    DatabaseProxy,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

db = DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class DateTimeField(peewee.DateTimeField):
    """peewee's, read faster: SQLite hands back text, which peewee parses by trying its
    formats with strptime one after another; fromisoformat reads the text peewee writes
    in one C call (a page of 100 clusters has 400 of them)."""

    def python_value(self, value):
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value)
            except ValueError:
                pass
        return super().python_value(value)


# One encoder for every value: json.dumps with options builds a new one per call, which
# a registration's 400 small lists (check_ports, tags) felt.
_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


class JSONField(TextField):
    """JSON stored as text: portable across SQLite and PostgreSQL."""

    def db_value(self, value):
        return None if value is None else _encode(value)

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
    # files hash of the bundle's image/ when loaded; nullable: SQLite adds it without a rebuild
    image_hash = CharField(null=True, default="")
    # What its nodes may get beyond a plain container (api/core/privileges.py), admin-set.
    privileges = JSONField(null=True, default=dict)
    # What it declares about life after launch (api/catalog/day2.py): resizable options, ...
    day2 = JSONField(null=True, default=dict)
    created = DateTimeField(default=utcnow)
    updated = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("name", "version"), True),)


class Host(BaseModel):
    """A host nodes run on: registered by an admin (`url` set: a Docker endpoint), or
    found by the engine (the embedded local Docker Engine, Mesos agents: `url` empty)."""
    name = CharField(unique=True)
    engine = CharField(default="docker")
    address = CharField(default="")  # on the site network: where VXLAN segments reach it
    cpus = FloatField(default=0)  # offered in all (the engine's, or the admin's override)
    mem = IntegerField(default=0)  # MB
    attributes = JSONField(default=dict)
    active = BooleanField(default=True)  # the engine reports it (found hosts) / offered at all
    last_seen = DateTimeField(default=utcnow)
    url = CharField(default="")  # unix://, tcp:// or ssh://; "" = found by the engine
    tls = JSONField(default=dict)  # {"ca", "cert", "key"}: paths of files on the platform host
    labels = JSONField(default=dict)
    state = CharField(default="active")  # the admin's: active | drain (lost is lost_since)
    lost_since = DateTimeField(null=True)  # silent past BDP_HOST_TIMEOUT
    cpus_override = FloatField(null=True)
    mem_override = IntegerField(null=True)


class Network(BaseModel):
    name = CharField(unique=True)
    description = TextField(default="")
    subnet = CharField()  # CIDR, e.g. 10.30.0.0/24; a tenant network's pool of segments
    gateway = CharField()
    range_start = CharField()
    range_end = CharField()
    created = DateTimeField(default=utcnow)
    driver = CharField(default="bridge")  # bridge | macvlan | overlay (api/infra/segments.py)
    isolation = CharField(default="shared")  # tenant: each user a segment of their own
    segment_prefix = IntegerField(default=0)  # tenant: the prefix length of each segment
    parent = CharField(default="")  # macvlan: the interface every host has on the site L2


class Segment(BaseModel):
    """One L2 segment of a network: a tenant's own (or everyone's, on a shared network),
    realised per host as a docker bridge (the embedded engine) or a VXLAN (`vni`)
    carrying a docker macvlan network (registered hosts)."""
    network = ForeignKeyField(Network, backref="segments", on_delete="CASCADE")
    owner = IntegerField(default=0)  # the user's id; 0 = everyone (a shared network)
    kind = CharField(default="bridge")  # bridge | vxlan | macvlan | overlay
    index = IntegerField(default=0)  # which slice of the network's subnet
    subnet = CharField()
    gateway = CharField()  # the platform's own address on the segment
    vni = IntegerField(null=True, unique=True)
    created = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("network", "owner", "kind"), True), (("network", "index"), True))


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
    # The rendered template is in ClusterDocument and the lease in Lease: SQLite rewrites
    # a whole row on any UPDATE, and a lease changes on every controller pass.
    ssh_public_key = TextField(default="")
    status_since = DateTimeField(default=utcnow)
    created = DateTimeField(default=utcnow)
    updated = DateTimeField(default=utcnow)
    health = CharField(default="unknown")  # core.status.Health
    problems = JSONField(default=list)  # [{"node", "status", "reason"}] behind a degraded health
    # When the platform destroys it by itself (None: never), and whether a dead node is
    # replaced without being asked (None: as its product says) (issue 12).
    expires = DateTimeField(null=True, index=True)
    auto_replace = BooleanField(null=True)

    class Meta:
        indexes = ((("user", "product", "seq"), True),)

    @property
    def dn(self) -> str:
        """The cluster's distinguished name, also its path under /clusters."""
        return f"clusters/{self.user.name}/{self.product.name}/{self.product.version}/{self.seq}"


class ClusterDocument(BaseModel):
    """The rendered template a cluster was registered with: written once, read rarely."""
    cluster = ForeignKeyField(Cluster, unique=True, backref="documents", on_delete="CASCADE")
    document = JSONField(default=dict)


class Lease(BaseModel):
    """Which controller works on a cluster, and until when (api/core/lease.py). A row of
    its own, so claiming and renewing never rewrites the cluster's row."""
    cluster = ForeignKeyField(Cluster, unique=True, backref="leases", on_delete="CASCADE")
    owner = CharField(null=True)
    expires = DateTimeField(null=True)


class ClusterStamp(BaseModel):
    """A number that changes whenever anything a cluster's view shows changes (its row,
    its nodes, services or operations), kept by the database's own triggers
    (api/core/stamps.py), so a reader can tell in one indexed probe whether the view it
    serialised before still holds (issue 13)."""
    cluster = ForeignKeyField(Cluster, primary_key=True, backref="stamps", on_delete="CASCADE")
    stamp = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "cluster_stamp"


class Node(BaseModel):
    cluster = ForeignKeyField(Cluster, backref="nodes", on_delete="CASCADE")
    name = CharField()
    # Indexed: a page of clusters looks for its few unhealthy nodes among them all.
    status = CharField(default="queued", index=True)  # core.status.NodeStatus
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
    segment = ForeignKeyField(Segment, null=True, backref="addresses")

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
    """The seed's asynchronous job (`/queue/<id>`): a launch, a destroy, or a day-2
    operation (restart, resize, replace...) queued on a cluster (api/clusters/operations.py)."""
    cluster = ForeignKeyField(Cluster, backref="jobs", on_delete="CASCADE")
    kind = CharField()  # "launch" | "destroy" | an operation: "restart", "resize", ...
    created = DateTimeField(default=utcnow)
    # Operations (issue 12); launch and destroy leave `status` "" and derive it.
    params = JSONField(default=dict)  # the operation's own arguments
    status = CharField(default="", index=True)  # core.status.OperationStatus
    progress = IntegerField(default=0)
    step = CharField(default="")  # what it is doing now, in words
    started = DateTimeField(null=True)
    finished = DateTimeField(null=True)
    result = JSONField(null=True)
    reason = TextField(default="")
    run = IntegerField(null=True)  # the last playbook Run it made
    who = CharField(default="")  # the user who asked
    # Which executor runs it, and until when (renewed while it runs): a killed one's
    # operation is taken over when this runs out.
    owner = CharField(null=True)
    expires = DateTimeField(null=True)


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


class Quota(BaseModel):
    """How much one user may hold at once (api/clusters/quotas.py); the row without a
    user is the default for everyone without a row of their own. None: no limit."""
    user = ForeignKeyField(User, null=True, unique=True, backref="quotas", on_delete="CASCADE")
    clusters = IntegerField(null=True)
    nodes = IntegerField(null=True)
    cpus = FloatField(null=True)
    memory = IntegerField(null=True)  # MB
    disks = IntegerField(null=True)


class State(BaseModel):
    """Small key/value facts a controller must keep across restarts (e.g. Mesos framework id)."""
    key = CharField(unique=True)
    value = TextField()


ALL_MODELS = [User, Token, Product, Host, Network, Cluster, Node, Disk, NodeDisk,
              Interface, Address, Service, Event, Job, Run, State, ClusterDocument, Lease,
              Segment, Quota, ClusterStamp]

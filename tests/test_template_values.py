"""A user's option value stays a value: whatever it is, it can only become a string,
number or boolean where the template prints it, never keys of the rendered document
(issue 11, finding 1). Through the API (registration) and through the renderer; no Docker."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.catalog import bundle
from api.catalog import template as T
from support.common import REPO
from support.rest import P, add_product, ensure_networks, error

# The seed's own style: strings interpolated between quotes, no filter at all.
UNFILTERED_JSON = """{
  "dnsname": "{{ product }}-{{ clusterid }}.{{ user }}.bdp",
  "nodes": {
    {%- for i in range(1, opts.size + 1) %}
    "node{{ i }}": {
      "docker_image": "bdp/base:bookworm",
      "docker_opts": "",
      "cpu": {{ opts.cpu }},
      "mem": 256,
      "tags": ["{{ opts.tag }}"],
      "disks": {"disk1": {"destination": "/data/{{ opts.label }}", "mode": "rw", "type": "sata"}},
      "networks": {"eth0": {"type": "dynamic", "networkname": "admin"}}
    }{{ "," if not loop.last }}
    {%- endfor %}
  },
  "services": {
    "marker": {"nodes": ["node1"], "text": "{{ opts.marker }}", "label": "{{ opts.label }}",
               "anything": "{{ opts.anything }}", "flag": "{{ opts.flag }}"}
  }
}
"""

UNFILTERED_YAML = """dnsname: {{ product }}-{{ clusterid }}.{{ user }}.bdp
nodes:
{%- for i in range(1, opts.size + 1) %}
  node{{ i }}:
    docker_image: bdp/base:bookworm
    cpu: {{ opts.cpu }}
    tags: [{{ opts.tag }}]
    disks:
      disk1: {destination: /data/{{ opts.label }}}
    networks:
      eth0: {networkname: admin}
{%- endfor %}
services:
  marker:
    nodes: [node1]
    text: {{ opts.marker }}
    label: "{{ opts.label }}"
    anything: '{{ opts.anything }}'
    flag: {{ opts.flag }}
"""

UNFILTERED_OPTIONS = {
    "required": {"size": 2},
    "optional": {"cpu": 0.5, "marker": "configured-by-bdp", "label": "one", "tag": "worker",
                 "flag": True},
    "advanced": {"anything": None},  # documented null: any JSON value is accepted
    "descriptions": {},
}

# What a hostile user sends: strings that close strings, open keys, start YAML keys
# with a newline, look like YAML/JSON structure, forge markers, or template syntax.
HOSTILE_STRINGS = [
    '", "nodes": {"evil": {"docker_image": "x", "docker_opts": "--cap-add=SYS_ADMIN '
    '--security-opt apparmor=unconfined"}}, "x": "',
    '"}}, "nodes": {"evil": {"docker_image": "x"}}, "services": {"s": {"nodes": ["evil"], "t": "',
    "x\nnodes:\n  evil:\n    docker_image: x\n    docker_opts: --cap-add=ALL\n",
    "x\n    docker_opts: --cap-add=ALL",
    '"\n  evil: "b', "'\n  evil: 'b", "[1, 2]", "{nodes: {}}", "true", "null", "1e3", "",
    "&anchor x", "*alias", "!!python/object/apply:os.system ['id']", "# comment", "a: b",
    "- item", "'", '"', "\\", '\\"', "\\u0022", "\\n", "\ue000", "\ue0000\ue001", "\ue002",
    "{{ 7*7 }}", "{% raw %}", "\r\n", "\t", "\x00", "\x85\x9f", "\u2028", "}", "]", ",",
    "é" * 3000,
]
HOSTILE_ANY = [*HOSTILE_STRINGS, {"nodes": {"evil": {"docker_image": "x"}}}, [1, {"a": "b"}], 7, None]


def key_paths(doc, prefix="") -> set[str]:
    """Every key path of a document (lists by index)."""
    out = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            out |= {path} | key_paths(value, path)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out |= key_paths(value, f"{prefix}[{i}]")
    return out


def clusters_and_nodes() -> tuple[int, int]:
    from api.core.models import Cluster, Node
    return Cluster.select().count(), Node.select().count()


def registered_document(cluster_uri: str) -> dict:
    from api.clusters.queries import cluster_document
    from api.core.models import Cluster, Product, User
    _, user, product, version, seq = cluster_uri.rsplit("/", 4)
    c = (Cluster.select(Cluster.id).join(User).switch(Cluster).join(Product)
         .where((User.name == user) & (Product.name == product) & (Product.version == version)
                & (Cluster.seq == int(seq))).get())
    return cluster_document(c.id)


@pytest.fixture
def catalog(client):
    """The bundled products and the two unfiltered ones, registered in the test registry."""
    ensure_networks()
    results = bundle.sync_bundles(REPO / "products")
    assert all(r in ("created", "updated", "unchanged") for r in results.values()), results
    add_product(client, "unfiltered", "1.0", UNFILTERED_JSON, UNFILTERED_OPTIONS)
    add_product(client, "unfiltered-yaml", "1.0", UNFILTERED_YAML, UNFILTERED_OPTIONS,
                ctype="application/yaml")
    return client


def test_the_finding_a_value_that_closes_its_string_stays_a_string(catalog):
    """Finding 1 as reported: one option value replaced `nodes` with a privileged node."""
    hostile = HOSTILE_STRINGS[0]
    r = catalog.simulate_post(f"{P}/products/unfiltered/1.0", json={"size": 2, "marker": hostile})
    assert r.status_code == 202, r.text
    doc = registered_document(r.json["cluster"])
    assert sorted(doc["nodes"]) == ["node1", "node2"]
    assert doc["services"]["marker"]["text"] == hostile  # exactly what was sent, as a string
    nodes = catalog.simulate_get(r.json["cluster"] + "/nodes").json["nodes"]
    assert [(n["name"], n["docker_opts"]) for n in nodes] == [("node1", ""), ("node2", "")]


def test_a_newline_cannot_start_a_yaml_key_and_nothing_is_registered(catalog):
    before = clusters_and_nodes()
    r = catalog.simulate_post(f"{P}/products/unfiltered-yaml/1.0",
                              json={"size": 2, "marker": "x\nnodes:\n  evil: {docker_image: x}"})
    assert r.status_code == 400
    body = error(r)
    assert body["field"] == "marker"
    assert "template line 16" in body["message"] and "| tojson" in body["message"]
    assert clusters_and_nodes() == before


def _hostile_launches(product):
    """(option, value) pairs: every hostile string for every option, and hostile JSON
    values for options that take anything."""
    doc = product.options or {}
    for section in ("required", "optional", "advanced"):
        for key, documented in (doc.get(section) or {}).items():
            for value in (HOSTILE_ANY if documented is None else HOSTILE_STRINGS):
                yield key, value


def _benign(product) -> dict:
    from api.catalog import options as opts
    return {k: v for k, v in opts.defaults(product.options).items()}


@pytest.mark.parametrize("name, version", [
    *[(b.name, b.version) for b in map(bundle.load_bundle, bundle.find_bundles(REPO / "products"))],
    ("unfiltered", "1.0"), ("unfiltered-yaml", "1.0")])
def test_hostile_values_for_every_option_never_change_the_documents_keys(catalog, name, version):
    from api.catalog import product as products
    product = products.get(name, version)
    benign = _benign(product)
    r = catalog.simulate_post(f"{P}/products/{name}/{version}", json=benign)
    assert r.status_code == 202, r.text
    expected = key_paths(registered_document(r.json["cluster"]))
    assert {"nodes", "services"} <= expected
    accepted = refused = 0
    for key, value in _hostile_launches(product):
        before = clusters_and_nodes()
        r = catalog.simulate_post(f"{P}/products/{name}/{version}", json={**benign, key: value})
        if r.status_code == 202:
            accepted += 1
            doc = registered_document(r.json["cluster"])
            assert key_paths(doc) == expected, (key, value)
        else:
            refused += 1
            assert r.status_code == 400, (key, value, r.text)
            assert error(r)["field"], r.text
            assert clusters_and_nodes() == before, (key, value)
    assert accepted + refused > len(HOSTILE_STRINGS)
    if name.startswith("unfiltered"):
        assert accepted and refused  # quoted JSON keeps values; unquoted ones are refused


def test_json_quoted_values_come_back_exactly():
    src = '{"nodes": {"n": {"docker_image": "x"}}, "services": {"s": {"nodes": ["n"], "v": "{{ opts.v }}"}}}'
    for value in HOSTILE_STRINGS:
        doc, _ = T.render_document(src, "json", T.variables({"v": value}, "u", "p", "1", 1))
        assert doc["services"]["s"]["v"] == value
        assert sorted(doc) == ["nodes", "services"] and sorted(doc["services"]["s"]) == ["nodes", "v"]


def render(src, fmt="json", **opts):
    return T.render_document(src, fmt, T.variables(opts, "u", "p", "1", 1))[0]


DOC = '{"nodes": {"n": {"docker_image": "x", "cpu": %s}}, "services": {"s": {"nodes": ["n"]%s}}}'


def test_numbers_booleans_tojson_and_literals_print_as_the_author_meant():
    doc = render(DOC % ("{{ opts.cpu }}", ', "l": {{ opts.l | tojson }}, "b": {{ opts.b | tojson }}'
                        '{{ ", \\"x\\": 1" if opts.b }}'), cpu=0.25, l=["a", {"k": 1}], b=True)
    assert doc["nodes"]["n"]["cpu"] == 0.25
    assert doc["services"]["s"] == {"nodes": ["n"], "l": ["a", {"k": 1}], "b": True, "x": 1}


@pytest.mark.parametrize("extra, needle", [
    (', "v": {{ opts.v }}', "is printed outside a JSON string"),  # unquoted string
    (', "v": {{ opts.v | safe }}', "is printed outside a JSON string"),  # | safe is no way out
    (', "v": {{ opts.v ~ "" }}', "is printed outside a JSON string"),  # nor a derived string
])
def test_a_string_outside_quotes_is_refused_naming_the_option(extra, needle):
    with pytest.raises(T.TemplateError) as exc:
        render(DOC % ("1", extra), v="[1, 2]")
    assert needle in exc.value.message and exc.value.field == "v" and "template line 1" in exc.value.message


def test_duplicate_keys_are_refused_in_json_and_yaml():
    with pytest.raises(T.TemplateError) as exc:
        render('{"nodes": {"n": {"docker_image": "x"}}, "nodes": {"m": {"docker_image": "y"}}}')
    assert "'nodes' appears twice" in exc.value.message
    with pytest.raises(T.TemplateError) as exc:
        render("nodes:\n  n: {docker_image: x}\nnodes:\n  m: {docker_image: y}\n", "yaml")
    assert "'nodes' appears twice" in exc.value.message and exc.value.line == 3


def test_a_value_cannot_collide_with_a_key_once_its_markers_are_gone():
    src = '{"nodes": {"n": {"docker_image": "x"}, "{{ opts.k }}": {"docker_image": "y"}}}'
    assert sorted(render(src, k="m")["nodes"]) == ["m", "n"]
    with pytest.raises(T.TemplateError) as exc:
        render(src, k="n")
    assert "appears twice" in exc.value.message


def test_a_value_in_a_yaml_comment_is_refused():
    src = "nodes:\n  n:\n    docker_image: x\n# for {{ opts.v }}\n"
    with pytest.raises(T.TemplateError) as exc:
        render(src, "yaml", v="x\nservices: {}")
    assert exc.value.field == "v"
    with pytest.raises(T.TemplateError) as exc:
        render(src, "yaml", v="plain")
    assert "outside every string" in exc.value.message


def test_yaml_escapes_in_a_value_cannot_forge_or_change_it():
    src = 'nodes:\n  n:\n    docker_image: x\nservices:\n  s: {nodes: [n], v: "{{ opts.v }}"}\n'
    assert render(src, "yaml", v="plain text")["services"]["s"]["v"] == "plain text"
    for forged in ["a\\ue001\\ue002", "\\x41", 'a", w: "b']:
        with pytest.raises(T.TemplateError) as exc:
            render(src, "yaml", v=forged)
        assert exc.value.field == "v", forged


def test_a_macro_printing_structure_prints_a_string():
    """What {{ }} prints is a value, a macro's output included: structure is template text."""
    src = ('{% macro node() %}{"docker_image": "{{ opts.image }}"}{% endmacro %}'
           '{"nodes": {"n": {{ node() }}}}')
    with pytest.raises(T.TemplateError) as exc:
        render(src, image="x")
    assert "outside a JSON string" in exc.value.message


def test_bundled_templates_render_as_before():
    """Every bundled product with its defaults: the document the playbooks expect."""
    from api.catalog import options as opts
    for path in bundle.find_bundles(REPO / "products"):
        b = bundle.load_bundle(path)
        doc = render_bundle(b, opts.defaults(opts.check_document(b.options)))
        assert doc["dnsname"] == f"{b.name}-1.u.bdp"
        assert all(n["docker_image"] == f"bdp/{b.name}:{b.version}" for n in doc["nodes"].values())
        assert "\ue000" not in json.dumps(doc, ensure_ascii=False)


def render_bundle(b, values):
    return T.render_document(b.template, b.template_format,
                             T.variables(values, "u", b.name, b.version, 1))[0]


def test_gluster_keeps_its_volume_name_and_reference_its_marker():
    b = bundle.load_bundle(Path(REPO / "products/gluster/10.3"))
    from api.catalog import options as opts
    doc = render_bundle(b, {**opts.defaults(opts.check_document(b.options)), "volume.name": "vol-1"})
    assert doc["services"]["initiator"]["volume"] == "vol-1"


@pytest.mark.parametrize("src", ["a: &a [*a]\nnodes: {}\n", "nodes: &a {x: *a}\n",
                                 "nodes: &a {n: {docker_image: '{{ user }}', tags: *a}}\n"])
def test_a_yaml_document_that_contains_itself_is_refused_not_a_crash(src):
    # Each list and mapping is walked once: an alias to itself cannot recurse forever.
    with pytest.raises(T.TemplateError) as exc:
        T.render_document(src, "yaml", T.variables({}, "u", "p", "1", 1))
    assert exc.value.field and "rendered template" in exc.value.message

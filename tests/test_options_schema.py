"""Typed options: the JSON Schema of each option (written by the author, or derived from
the seed document's values), checked at PUT/POST/PATCH and bundle load and at launch,
and product.yml's format. No Docker: launches through the test client only register."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.catalog import options as opts
from api.core.errors import Invalid
from support.rest import OPTIONS, TEMPLATE, P, add_product, ensure_networks, error

REPO = Path(__file__).resolve().parent.parent
BUNDLED = ["dask/2024.12.1", "gluster/10.3", "mariadb/10.11", "postgresql/15", "reference/1.0.0", "slurm/22.05",
           "spark/4.3.0"]

# The test template's options, typed, plus an enum and a pattern option it ignores.
TYPED = {
    "required": {"size": 2},
    "optional": {"cpu": 0.5, "mem": 256, "disks": 1, "partition": "batch"},
    "advanced": {"heap": 512, "name": "demo"},
    "descriptions": {"size": "Number of nodes", "cpu": "Cores per node"},
    "schema": {
        "size": {"type": "integer", "minimum": 1, "maximum": 64},
        "cpu": {"type": "number", "minimum": 0.1, "maximum": 64},
        "mem": {"type": "integer", "minimum": 64, "maximum": 262144},
        "disks": {"type": "integer", "minimum": 0, "maximum": 16},
        "partition": {"type": "string", "enum": ["batch", "debug"]},
        "heap": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "pattern": "^[a-z]+$"},
    },
}


def refusal(doc, given) -> Invalid:
    with pytest.raises(Invalid) as e:
        opts.merge(doc, given)
    return e.value


# --- pure functions ------------------------------------------------------------------

def test_options_schema_is_an_object_schema_of_every_option():
    schema = opts.options_schema(TYPED)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["size"]
    assert list(schema["properties"]) == ["size", "cpu", "mem", "disks", "partition", "heap", "name"]
    size = schema["properties"]["size"]
    assert size["maximum"] == 64 and size["examples"] == [2] and size["description"] == "Number of nodes"
    assert schema["properties"]["cpu"]["default"] == 0.5
    assert "default" not in TYPED["schema"]["cpu"]  # annotations go on copies


def test_seed_document_gets_types_from_its_values():
    schema = opts.options_schema({**OPTIONS, "optional": {**OPTIONS["optional"], "debug": False,
                                                         "tags": [], "anything": None}})
    types = {k: p.get("type") for k, p in schema["properties"].items()}
    assert types == {"size": "integer", "cpu": "number", "mem": "integer", "debug": "boolean",
                     "tags": "array", "anything": None, "heap": "integer"}
    doc = {**OPTIONS, "optional": {**OPTIONS["optional"], "debug": False}}
    assert opts.merge(doc, {"size": "2", "cpu": "1", "debug": "true"}) == {
        "cpu": 1.0, "mem": 256, "debug": True, "heap": 512, "size": 2}
    assert opts.merge(OPTIONS, {"size": 3.0})["size"] == 3
    # No bounds are invented for a seed document: the template's checks stay in charge.
    assert opts.merge(OPTIONS, {"size": 0, "mem": -1})["mem"] == -1


@pytest.mark.parametrize("given, field, message", [
    ({"size": 2, "cpu": 1e-9}, "cpu", "option 'cpu' must be at least 0.1 (got 1e-09)"),
    ({"size": 2, "disks": -5}, "disks", "option 'disks' must be at least 0 (got -5)"),
    ({"size": 5000}, "size", "option 'size' must be at most 64 (got 5000)"),
    ({"size": "5000"}, "size", "option 'size' must be at most 64 (got 5000)"),
    ({"size": 2, "partition": "prod"}, "partition", "option 'partition' must be one of: batch, debug"),
    ({"size": 2, "name": "Demo1"}, "name", "option 'name' must match ^[a-z]+$"),
    ({"size": "two"}, "size", "option 'size' must be an integer (like 2), not 'two'"),
    ({"size": True}, "size", "option 'size' must be an integer (like 2), not True"),
    ({"size": 2, "cpu": "fast"}, "cpu", "option 'cpu' must be a number (like 0.5), not 'fast'"),
    ({"size": 2, "cpu": float("nan")}, "cpu", "option 'cpu' must be a number (like 0.5), not nan"),
    ({"size": 2, "cpu": "inf"}, "cpu", "option 'cpu' must be a number (like 0.5), not 'inf'"),
    ({"size": 2, "name": 7}, "name", "option 'name' must be a string (like 'demo'), not 7"),
    ({}, "size", "option 'size' is required (for example 2)"),
    ({"size": 2, "sise": 2}, "sise", ("unknown option 'sise'; this product's options are: "
                                      "cpu, disks, heap, mem, name, partition, size")),
])
def test_typed_values_are_refused_naming_the_option(given, field, message):
    e = refusal(TYPED, given)
    assert (e.field, e.message) == (field, message)


def test_the_first_failing_option_in_documented_order_is_reported():
    e = refusal(TYPED, {"name": "X", "size": 100, "cpu": 0})
    assert e.field == "size"


def test_typed_values_that_meet_the_schema_are_coerced():
    values = opts.merge(TYPED, {"size": "64", "cpu": "0.1", "partition": "debug"})
    assert values == {"cpu": 0.1, "mem": 256, "disks": 1, "partition": "debug", "heap": 512,
                      "name": "demo", "size": 64}


def test_lists_are_checked_item_by_item_and_formats_are_applied():
    doc = {"optional": {"ports": [22], "gateway": "10.0.0.1"},
           "schema": {"ports": {"type": "array", "items": {"type": "integer", "maximum": 1024}},
                      "gateway": {"type": "string", "format": "ipv4"}}}
    assert opts.merge(opts.check_document(doc), {"ports": [22, 80]})["ports"] == [22, 80]
    e = refusal(doc, {"ports": [22, 8080]})
    assert (e.field, e.message) == ("ports", "option 'ports' at 1 must be at most 1024 (got 8080)")
    e = refusal(doc, {"ports": "22"})
    assert e.message == "option 'ports' must be a list (like [22]), not '22'"
    e = refusal(doc, {"gateway": "10.0.0.300"})
    assert (e.field, e.message) == ("gateway", "option 'gateway' must be a valid ipv4 (got '10.0.0.300')")


def with_schema(**changes) -> dict:
    schema = {**TYPED["schema"], **changes}
    return {**TYPED, "schema": {k: v for k, v in schema.items() if v is not None}}


@pytest.mark.parametrize("doc, field, needle", [
    (with_schema(disks=None), "options.schema.disks", "option 'disks' has no schema"),
    (with_schema(colour={"type": "string"}), "options.schema.colour", "schema of 'colour', which is not an option"),
    (with_schema(cpu={"type": "number", "minimum": "low"}), "options.schema.cpu", "not a valid JSON Schema"),
    (with_schema(name={"type": "string", "pattern": "(["}), "options.schema.name", "not a valid JSON Schema"),
    (with_schema(mem={"minimum": 64}), "options.schema.mem", "must declare a 'type'"),
    (with_schema(mem={"type": "null"}), "options.schema.mem", "must declare a 'type'"),
    (with_schema(mem={"type": "integer", "maximun": 64}), "options.schema.mem", "uses 'maximun'"),
    (with_schema(mem={"type": "integer", "allOf": [{"$ref": "#"}]}), "options.schema.mem", "uses '$ref'"),
    (with_schema(mem=[]), "options.schema.mem", "must be an object"),
    (with_schema(cpu={"type": "number", "minimum": 1}), "options.optional.cpu",
     "the default of option 'cpu' does not meet its schema: must be at least 1 (got 0.5)"),
    (with_schema(size={"type": "integer", "maximum": 1}), "options.required.size",
     "the example of option 'size' does not meet its schema: must be at most 1 (got 2)"),
    (with_schema(partition={"type": "string", "enum": ["debug"]}), "options.optional.partition",
     "must be one of: debug"),
    (with_schema(name={"type": "integer"}), "options.advanced.name", "must be of type integer (got 'demo')"),
    ({**TYPED, "schema": ["size"]}, "options.schema", "'schema' must be an object"),
])
def test_broken_schemas_are_refused_naming_the_option(doc, field, needle):
    with pytest.raises(Invalid) as e:
        opts.check_document(doc)
    assert e.value.field == field and needle in e.value.message, e.value.message


def test_check_document_keeps_the_schema_and_adds_nothing_without_one():
    assert opts.check_document(TYPED)["schema"] == TYPED["schema"]
    assert "schema" not in opts.check_document(OPTIONS)
    assert "schema" not in opts.check_document({**OPTIONS, "schema": None})


# --- through the API -----------------------------------------------------------------

@pytest.fixture
def typed(client):
    ensure_networks()
    add_product(client, options=TYPED)
    return client


def test_typed_options_round_trip(typed):
    assert typed.simulate_get(f"{P}/products/demo/1.0/options").json == TYPED
    assert typed.simulate_get(f"{P}/products/demo/1.0").json["options"]["schema"] == TYPED["schema"]
    r = typed.simulate_post(f"{P}/products/demo/1.0", json={"size": "2", "cpu": "1"})
    assert r.status_code == 202, r.text
    assert typed.simulate_get(r.headers["location"]).json["options"]["size"] == 2


@pytest.mark.parametrize("body, field, needle", [
    ({"size": 2, "cpu": 1e-9}, "cpu", "option 'cpu' must be at least 0.1 (got 1e-09)"),
    ({"size": 2, "disks": -5}, "disks", "option 'disks' must be at least 0 (got -5)"),
    ({"size": 5000}, "size", "option 'size' must be at most 64 (got 5000)"),
    ({"size": 2, "partition": "prod"}, "partition", "must be one of: batch, debug"),
    ({"size": 2, "name": "a b"}, "name", "must match ^[a-z]+$"),
])
def test_launch_refuses_out_of_schema_values_and_registers_nothing(typed, body, field, needle):
    from api.core.models import Cluster, Node
    r = typed.simulate_post(f"{P}/products/demo/1.0", json=body)
    assert r.status_code == 400, r.text
    assert error(r)["field"] == field and needle in error(r)["message"]
    assert typed.simulate_get(f"{P}/clusters").json["clusters"] == []
    assert Cluster.select().count() == 0 and Node.select().count() == 0


def test_put_of_a_broken_schema_is_400_naming_the_option_and_keeps_the_old(typed):
    url = f"{P}/products/demo/1.0/options"
    for doc, field in ((with_schema(disks=None), "options.schema.disks"),
                       (with_schema(colour={"type": "string"}), "options.schema.colour"),
                       (with_schema(cpu={"type": "number", "minimum": []}), "options.schema.cpu"),
                       (with_schema(cpu={"type": "number", "minimum": 1}), "options.optional.cpu")):
        r = typed.simulate_put(url, json=doc)
        assert r.status_code == 400 and error(r)["field"] == field, r.text
    assert typed.simulate_get(url).json["schema"] == TYPED["schema"]


def test_post_and_patch_check_the_schema_too(client):
    r = client.simulate_post(f"{P}/products", json={"name": "x", "version": "1",
                                                    "options": with_schema(size=None)})
    assert r.status_code == 400 and error(r)["field"] == "options.schema.size", r.text
    add_product(client)
    r = client.simulate_patch(f"{P}/products/demo/1.0", json={"options": with_schema(mem={"type": "string"})})
    assert r.status_code == 400 and error(r)["field"] == "options.optional.mem", r.text
    r = client.simulate_patch(f"{P}/products/demo/1.0", json={"options": TYPED})
    assert r.status_code == 200 and r.json["options"]["schema"] == TYPED["schema"], r.text


def test_a_schema_must_still_let_the_template_render(client):
    """The template is checked with the defaults, whatever the schema allows."""
    add_product(client, template=None, options=None)
    r = client.simulate_put(f"{P}/products/demo/1.0/options", json=TYPED)
    assert r.status_code == 200
    r = client.simulate_put(f"{P}/products/demo/1.0/template", body=TEMPLATE.replace("opts.heap", "opts.hep"),
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "hep" in error(r)["message"]


# --- bundles -------------------------------------------------------------------------

def bundled_options(product: str) -> dict:
    return json.loads((REPO / "products" / product / "options.json").read_text())


@pytest.mark.parametrize("product", BUNDLED)
def test_bundled_product_schema_is_full_and_refuses_out_of_bounds(product):
    doc = opts.check_document(bundled_options(product))
    values = opts.merge(doc, dict(doc["required"]))  # the examples and defaults validate
    for key, schema in doc["schema"].items():
        if schema["type"] in ("integer", "number"):
            assert "minimum" in schema and "maximum" in schema, (product, key)
        elif schema["type"] == "string":
            assert "pattern" in schema or "enum" in schema, (product, key)
    count = next(iter(doc["required"]))  # size, replicas or workers
    assert refusal(doc, {**doc["required"], count: 10**6}).field == count
    assert refusal(doc, {**doc["required"], count: -1}).field == count
    cpus = [k for k in values if k.endswith("cpu")]
    assert cpus
    for cpu in cpus:
        e = refusal(doc, {**doc["required"], cpu: 1e-9})
        assert e.field == cpu and e.message == f"option {cpu!r} must be at least 0.1 (got 1e-09)"


def test_every_bundled_product_loads_with_format_2(platform):
    from api.catalog import bundle
    from api.core.models import Product
    assert bundle.sync_bundles(REPO / "products") == {p: "created" for p in BUNDLED}
    for path in bundle.find_bundles(REPO / "products"):
        assert bundle.load_bundle(path).format == 2, path
    assert Product.get(Product.name == "slurm").options["schema"]["partition"]["pattern"]


def test_bundled_slurm_refuses_a_partition_slurm_reserves(client):
    from api.catalog import bundle
    bundle.sync_bundles(REPO / "products" / "slurm")
    for partition, needle in (("default", "may not be 'default'"), ("a;b", "must match"),
                              ("x" * 33, "must match")):
        r = client.simulate_post(f"{P}/products/slurm/22.05", json={"size": 2, "partition": partition})
        assert r.status_code == 400 and error(r)["field"] == "partition" and needle in error(r)["message"]
    r = client.simulate_post(f"{P}/products/slurm/22.05", json={"size": 2, "max_time": "1:00:00; rm"})
    assert r.status_code == 400 and error(r)["field"] == "max_time"


def make_bundle(root: Path, product_yml: str, options: dict) -> Path:
    path = root / "mini" / "1.0"
    path.mkdir(parents=True)
    (path / "product.yml").write_text(product_yml)
    (path / "options.json").write_text(json.dumps(options))
    (path / "template.json.j2").write_text(TEMPLATE)
    return path


def test_a_bundle_without_format_is_format_1_and_loads(platform, tmp_path):
    from api.catalog import bundle
    path = make_bundle(tmp_path, "name: mini\nversion: '1.0'\n", OPTIONS)
    assert bundle.load_bundle(path).format == 1
    assert bundle.sync_bundles(tmp_path) == {"mini/1.0": "created"}


@pytest.mark.parametrize("product_yml, options, needle", [
    ("format: 99\nname: mini\n", OPTIONS, "product.yml: unknown format 99"),
    ("format: '2'\nname: mini\n", OPTIONS, "product.yml: unknown format '2'"),
    ("format: true\nname: mini\n", OPTIONS, "product.yml: unknown format True"),
    ("format: 1\nname: mini\n", TYPED, "options.json: 'schema' needs 'format: 2' in product.yml"),
    ("name: mini\n", TYPED, "options.json: 'schema' needs 'format: 2'"),
    ("format: 2\nname: mini\n", with_schema(mem=None),
     "options.json: option 'mem' has no schema; with 'schema', every option needs one (field options.schema.mem)"),
])
def test_bundle_format_and_schema_errors_name_the_file(platform, tmp_path, product_yml, options, needle):
    from api.catalog import bundle
    path = make_bundle(tmp_path, product_yml, options)
    result = bundle.sync_bundles(tmp_path)
    assert list(result) == [str(path)] and needle in result[str(path)], result


def test_format_2_bundle_with_a_schema_loads(platform, tmp_path):
    from api.catalog import bundle
    from api.core.models import Product
    make_bundle(tmp_path, "format: 2\nname: mini\nversion: '1.0'\n", TYPED)
    assert bundle.sync_bundles(tmp_path) == {"mini/1.0": "created"}
    assert Product.get(Product.name == "mini").options["schema"] == TYPED["schema"]

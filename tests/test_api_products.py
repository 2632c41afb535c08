"""The product catalog: registration, template, options, orchestrator, logo, delete,
and loading bundles from disk."""
from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from support.rest import (
    OPTIONS,
    TEMPLATE,
    YAML_TEMPLATE,
    P,
    add_product,
    add_user,
    as_user,
    error,
    put_template,
)

REPO = Path(__file__).resolve().parent.parent


def test_register_list_and_show_products(client):
    r = client.simulate_post(f"{P}/products", json={"name": "gluster", "version": "3.7.11",
                                                    "description": "GlusterFS parallel filesystem cluster"})
    assert r.status_code == 201
    assert r.headers["location"].endswith("/bigdata/api/v1/products/gluster/3.7.11")
    client.simulate_post(f"{P}/products", json={"name": "gluster", "version": "3.8"})
    assert client.simulate_get(f"{P}/products").json == {"products": ["gluster"]}
    assert client.simulate_get(f"{P}/products/gluster").json == {"versions": ["3.7.11", "3.8"]}
    view = client.simulate_get(f"{P}/products/gluster/3.7.11").json
    assert view["description"] == "GlusterFS parallel filesystem cluster"
    assert view["template_format"] is None and view["orchestrator_format"] is None


@pytest.mark.parametrize("body, status, field", [
    ({"name": "gluster", "version": "3.7.11"}, 409, "version"),
    ({"version": "1"}, 400, "name"),
    ({"name": "../etc", "version": "1"}, 400, "name"),
    ({"name": "x", "version": "1", "colour": "red"}, 400, "colour"),
    ({"name": "x", "version": "1", "logo_url": "javascript:alert(1)"}, 400, "logo_url"),
    ({"name": "x", "version": "1", "template": "{{ oops", "options": {}}, 400, "template"),
])
def test_register_product_errors(client, body, status, field):
    client.simulate_post(f"{P}/products", json={"name": "gluster", "version": "3.7.11"})
    r = client.simulate_post(f"{P}/products", json=body)
    assert r.status_code == status
    assert error(r)["field"] == field


def test_unknown_product_is_404(client):
    for path in ("/products/nope", "/products/nope/1", "/products/nope/1/template",
                 "/products/nope/1/options", "/products/nope/1/orchestrator", "/products/nope/1/logo_url"):
        r = client.simulate_get(P + path)
        assert r.status_code == 404 and "nope" in error(r)["message"], path


def test_only_admins_change_products(client):
    token = add_user(client, "alice")
    add_product(client)
    h = as_user(token)
    assert client.simulate_post(f"{P}/products", json={"name": "a", "version": "1"}, headers=h).status_code == 403
    assert put_template(client, "demo", "1.0", TEMPLATE).status_code == 200
    r = client.simulate_put(f"{P}/products/demo/1.0/template", body=b"{}", headers={
        **h, "Content-Type": "application/json"})
    assert r.status_code == 403 and error(r)["message"] == "this needs the admin role"
    assert client.simulate_put(f"{P}/products/demo/1.0/options", json=OPTIONS, headers=h).status_code == 403
    assert client.simulate_delete(f"{P}/products/demo/1.0", headers=h).status_code == 403
    # ...but everyone may read the catalog.
    assert client.simulate_get(f"{P}/products/demo/1.0/options", headers=h).json == OPTIONS


def test_template_round_trip_json_and_yaml(client):
    add_product(client)
    r = client.simulate_get(f"{P}/products/demo/1.0/template")
    assert r.text == TEMPLATE and r.headers["content-type"] == "application/json"
    assert put_template(client, "demo", "1.0", YAML_TEMPLATE, "application/yaml").status_code == 200
    r = client.simulate_get(f"{P}/products/demo/1.0/template")
    assert r.text == YAML_TEMPLATE and r.headers["content-type"] == "application/yaml"
    assert client.simulate_get(f"{P}/products/demo/1.0").json["template_format"] == "yaml"
    from support.rest import ensure_networks
    ensure_networks()
    r = client.simulate_post(f"{P}/products/demo/1.0", json={"size": 2})
    assert r.status_code == 202, r.text
    assert client.simulate_get(r.headers["location"]).json["nodes"] == ["n1", "n2"]


@pytest.mark.parametrize("text, needle, field", [
    ('{"nodes": {% if %}}', "syntax error at line 1", "template"),
    ('{\n"dnsname": "{{ nosuch }}",\n "nodes": {}}', "undefined variable at template line 2", "template"),
    (TEMPLATE.replace('"cpu": {{ opts.cpu }}', '"cpu": "lots"'), "nodes.node1.cpu", "nodes.node1.cpu"),
    (TEMPLATE.replace('"mode": "rw"', '"mode": "rx"'), "nodes.node1.disks.disk1.mode",
     "nodes.node1.disks.disk1.mode"),
    (TEMPLATE.replace('"node{{ i }}"{{', '"nodeX{{ i }}"{{'), "names node 'nodeX1'", "services.all.nodes.0"),
    (TEMPLATE.replace('"check_ports"', '"check_port"'), "check_port", "nodes.node1.check_port"),
    ('{"nodes": {"a": {"docker_image": "x"}},}', "not valid JSON at rendered line 1", "template"),
    ('{"nodes": {}}', "nodes", "nodes"),
    ('[1, 2]', "must be an object", "template"),
])
def test_template_put_errors_name_line_or_field(client, text, needle, field):
    add_product(client)
    r = put_template(client, "demo", "1.0", text)
    assert r.status_code == 400, r.text
    body = error(r)
    assert needle in body["message"] and body["field"] == field
    # A refused template leaves the old one in force.
    assert client.simulate_get(f"{P}/products/demo/1.0/template").text == TEMPLATE


def test_yaml_template_errors_report_the_line(client):
    add_product(client)
    r = put_template(client, "demo", "1.0", "nodes:\n  a: [1,\n  b: 2\n", "application/yaml")
    assert r.status_code == 400 and "not valid YAML at line" in error(r)["message"]


def test_template_needs_a_known_content_type(client):
    add_product(client)
    r = client.simulate_put(f"{P}/products/demo/1.0/template", body=TEMPLATE,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415 and error(r)["field"] == "Content-Type"
    r = client.simulate_put(f"{P}/products/demo/1.0/template", body=b"\xff\xfe",
                            headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "UTF-8" in error(r)["message"]


@pytest.mark.parametrize("payload", [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ opts.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].system('touch /tmp/pwned') }}",
    "{% set x = opts.update({'size': 1}) %}{}",
    "{{ 'a' * 100000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{% for i in range(10**9) %}{% endfor %}",
    "{{ '%900000000s' % '' }}",
])
def test_template_sandbox_escapes_are_refused(client, payload):
    add_product(client)
    r = put_template(client, "demo", "1.0", payload)
    assert r.status_code == 400, r.text
    body = error(r)
    assert body["field"] == "template"
    assert not Path("/tmp/pwned").exists()


def test_options_are_checked_and_recheck_the_template(client):
    add_product(client)
    r = client.simulate_put(f"{P}/products/demo/1.0/options", json={**OPTIONS, "extra": {}})
    assert r.status_code == 400 and error(r)["field"] == "extra"
    r = client.simulate_put(f"{P}/products/demo/1.0/options",
                            json={**OPTIONS, "optional": {"cpu": 1, "size": 3}})
    assert r.status_code == 400 and "both" in error(r)["message"]
    r = client.simulate_put(f"{P}/products/demo/1.0/options",
                            json={**OPTIONS, "descriptions": {"ghost": "not an option"}})
    assert r.status_code == 400 and error(r)["field"] == "options.descriptions.ghost"
    # Dropping `heap`, which the template uses, would break every launch: refused.
    r = client.simulate_put(f"{P}/products/demo/1.0/options", json={**OPTIONS, "advanced": {}, "descriptions": {}})
    assert r.status_code == 400 and "heap" in error(r)["message"] and "line" in error(r)["message"]
    assert client.simulate_get(f"{P}/products/demo/1.0/options").json == OPTIONS
    # Defaults that render a broken document are refused too (cpu must be > 0).
    r = client.simulate_put(f"{P}/products/demo/1.0/options", json={**OPTIONS, "optional": {"cpu": 0, "mem": 1}})
    assert r.status_code == 400 and error(r)["field"] == "nodes.node1.cpu"


def test_template_before_options_is_checked_when_options_arrive(client):
    """The seed PUTs the template first: its syntax is checked then, the rest with the options."""
    client.simulate_post(f"{P}/products", json={"name": "seedy", "version": "1"})
    assert put_template(client, "seedy", "1", "{{ broken").status_code == 400
    assert put_template(client, "seedy", "1", TEMPLATE).status_code == 200
    r = client.simulate_put(f"{P}/products/seedy/1/options", json={"required": {"size": 1}})
    assert r.status_code == 400 and "cpu" in error(r)["message"]
    assert client.simulate_put(f"{P}/products/seedy/1/options", json=OPTIONS).status_code == 200


def test_patch_changes_template_and_options_together(client):
    add_product(client)
    new_options = {"required": {"count": 1}, "optional": {"cpu": 1, "mem": 64}, "advanced": {"heap": 1}}
    new_template = TEMPLATE.replace("opts.size", "opts.count")
    # Neither change alone is valid with the other part in force...
    assert put_template(client, "demo", "1.0", new_template).status_code == 400
    # ...together they are.
    r = client.simulate_patch(f"{P}/products/demo/1.0", json={"options": new_options, "template": new_template,
                                                              "description": "changed"})
    assert r.status_code == 200, r.text
    assert r.json["description"] == "changed" and r.json["options"]["required"] == {"count": 1}


def _tarball(files: dict[str, bytes], gz=True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# The platform runs a playbook with these four tags; PUT refuses one that lacks any.
PLAYBOOK = b"- hosts: all\n  tasks:\n    - ping:\n      tags: [start, stop, restart, status]\n"


def test_orchestrator_yaml_under_both_spellings(client):
    add_product(client)
    assert client.simulate_get(f"{P}/products/demo/1.0/orchestrator").status_code == 404
    r = client.simulate_put(f"{P}/products/demo/1.0/orquestrator", body=PLAYBOOK,
                            headers={"Content-Type": "application/json"})  # the seed's header
    assert r.status_code == 200 and r.json["orchestrator_format"] == "yaml"
    r = client.simulate_get(f"{P}/products/demo/1.0/orchestrator")
    assert r.content == PLAYBOOK and r.headers["content-type"] == "application/yaml"


@pytest.mark.parametrize("body, ctype, needle", [
    (b"- hosts: all\n  tasks: [\n", "application/yaml", "not valid YAML at line"),
    (b"hosts: all\n", "application/yaml", "list of plays"),
    (b"", "application/yaml", "empty"),
    (b"not a tarball", "application/gzip", "not a tar"),
    (_tarball({"roles/x/tasks/main.yml": b"[]"}), "application/gzip", "no playbook.yml"),
    (_tarball({"playbook.yml": PLAYBOOK, "../evil": b"x"}), "application/gzip", "outside"),
    (_tarball({"playbook.yml": b"- hosts: [\n"}), "application/gzip", "playbook.yml in the archive"),
])
def test_orchestrator_errors(client, body, ctype, needle):
    add_product(client)
    r = client.simulate_put(f"{P}/products/demo/1.0/orchestrator", body=body, headers={"Content-Type": ctype})
    assert r.status_code == 400 and needle in error(r)["message"]
    assert error(r)["field"] == "orchestrator"


@pytest.mark.parametrize("gz", [True, False])
def test_orchestrator_tarball_is_stored_as_tar_gz(client, gz):
    add_product(client)
    data = _tarball({"playbook.yml": PLAYBOOK, "roles/demo/tasks/main.yml": b"- ping:\n"}, gz=gz)
    r = client.simulate_put(f"{P}/products/demo/1.0/orchestrator", body=data,
                            headers={"Content-Type": "application/gzip" if gz else "application/x-tar"})
    assert r.status_code == 200 and r.json["orchestrator_format"] == "tar.gz"
    r = client.simulate_get(f"{P}/products/demo/1.0/orchestrator")
    assert r.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(r.content))) as tar:
        assert sorted(tar.getnames()) == ["playbook.yml", "roles/demo/tasks/main.yml"]


def test_logo_url(client):
    add_product(client)
    assert client.simulate_get(f"{P}/products/demo/1.0/logo_url").json == {"logo_url": ""}
    r = client.simulate_put(f"{P}/products/demo/1.0/logo_url", json={"logo_url": "https://x.org/l.png"})
    assert r.json == {"logo_url": "https://x.org/l.png"}
    r = client.simulate_put(f"{P}/products/demo/1.0/logo_url", body="https://y.org/l.svg\n",
                            headers={"Content-Type": "text/plain"})
    assert client.simulate_get(f"{P}/products/demo/1.0/logo_url").json == {"logo_url": "https://y.org/l.svg"}
    r = client.simulate_put(f"{P}/products/demo/1.0/logo_url", json={"logo_url": "file:///etc/passwd"})
    assert r.status_code == 400 and error(r)["field"] == "logo_url"
    r = client.simulate_put(f"{P}/products/demo/1.0/logo_url", json={"url": "https://x"})
    assert r.status_code == 400 and error(r)["field"] == "logo_url"


def test_delete_product_refused_while_clusters_live(client):
    from api.core import status
    from api.core.models import Cluster
    from support.rest import ensure_networks
    ensure_networks()
    add_product(client)
    assert client.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).status_code == 202
    r = client.simulate_delete(f"{P}/products/demo/1.0")
    assert r.status_code == 409 and "1 cluster" in error(r)["message"]
    client.simulate_delete(f"{P}/clusters/admin/demo/1.0/1")
    # The framework's part, done here by hand: destroying -> destroyed.
    assert status.transition(Cluster.get().id, status.DESTROYED, "framework")
    assert client.simulate_delete(f"{P}/products/demo/1.0").status_code == 204
    assert client.simulate_get(f"{P}/products/demo/1.0").status_code == 404
    assert Cluster.select().count() == 0


def test_bundles_load_from_disk(platform, tmp_path):
    from api.catalog import bundle as bundles
    from api.core.models import Product
    results = bundles.sync_bundles(REPO / "products")
    assert results["reference/1.0.0"] == "created"
    ref = Product.get(Product.name == "reference")
    assert ref.template and ref.options["required"] == {"size": 2} and ref.image == "bdp/reference:1.0.0"
    # A bundle with roles/ becomes a tar.gz orchestrator; one without a playbook has none.
    bundle = tmp_path / "b" / "mini" / "2.0"
    (bundle / "roles" / "mini" / "tasks").mkdir(parents=True)
    (bundle / "product.yml").write_text("name: mini\nversion: '2.0'\ndescription: Mini\n")
    (bundle / "options.json").write_text('{"required": {"size": 1}}')
    (bundle / "template.yaml.j2").write_text(YAML_TEMPLATE.replace("opts.cpu", "1"))
    (bundle / "playbook.yml").write_bytes(PLAYBOOK)
    (bundle / "roles" / "mini" / "tasks" / "main.yml").write_text("- ping:\n")
    assert bundles.sync_bundles(tmp_path / "b") == {"mini/2.0": "created"}
    mini = Product.get(Product.name == "mini")
    assert mini.template_format == "yaml" and mini.orchestrator_format == "tar.gz"
    # Unchanged bundle: an admin's API edit survives a restart; a changed bundle wins.
    Product.update(description="edited by admin").where(Product.id == mini.id).execute()
    assert bundles.sync_bundles(tmp_path / "b") == {"mini/2.0": "unchanged"}
    assert Product.get_by_id(mini.id).description == "edited by admin"
    (bundle / "product.yml").write_text("name: mini\nversion: '2.0'\ndescription: Mini v2\n")
    assert bundles.sync_bundles(tmp_path / "b") == {"mini/2.0": "updated"}
    assert Product.get_by_id(mini.id).description == "Mini v2"
    # A broken bundle is reported, not loaded, and does not stop the others.
    (bundle / "template.yaml.j2").write_text("{{ nope")
    assert "syntax error" in bundles.sync_bundles(tmp_path / "b")[str(bundle)]

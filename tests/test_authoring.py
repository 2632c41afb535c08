"""A product author's checks, without Docker: a playbook that cannot run is refused at
PUT and at load naming the role or the missing tag; lint names file and line; render shows
the document a launch would register and registers nothing."""
from __future__ import annotations

import io
import shutil
import tarfile

from api.catalog.lint import lint
from support.common import REPO
from support.rest import P, add_product, ensure_networks, error

GOOD = b"""- hosts: all
  gather_facts: false
  tags: [start, restart]
  roles: [marker]
- hosts: all
  gather_facts: false
  tags: [stop, status]
  tasks:
    - ansible.builtin.ping:
"""


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def put(client, body: bytes, ctype: str = "application/yaml"):
    return client.simulate_put(f"{P}/products/demo/1.0/orchestrator", body=body, headers={"Content-Type": ctype})


def test_put_refuses_a_playbook_whose_role_is_missing_naming_it(client):
    add_product(client)
    assert put(client, GOOD).status_code == 200  # a shared role resolves
    # The seed's JSON-style upload of a playbook alone, without the bundle's roles:
    r = put(client, GOOD.replace(b"roles: [marker]", b"roles: [redis]"))
    assert r.status_code == 400 and error(r)["field"] == "orchestrator"
    assert "the role 'redis' was not found" in error(r)["message"]
    assert "playbook.yml:4" in error(r)["message"]
    # ...while the same playbook in an archive with its role is taken.
    archive = _tar({"playbook.yml": GOOD.replace(b"roles: [marker]", b"roles: [redis]"),
                    "roles/redis/tasks/main.yml": b"- ansible.builtin.ping:\n"})
    assert put(client, archive, "application/gzip").status_code == 200


def test_put_refuses_a_playbook_without_the_platforms_tags(client):
    add_product(client)
    r = put(client, GOOD.replace(b"tags: [stop, status]", b"tags: [stop]"))
    assert r.status_code == 400 and "no play or task is tagged status" in error(r)["message"]


def test_lint_names_file_and_line_of_each_problem(tmp_path):
    bundle = tmp_path / "hello" / "1.0.0"
    shutil.copytree(REPO / "products" / "reference" / "1.0.0", bundle)
    assert [f for f in lint(bundle) if f.level == "error"] == []
    playbook = (bundle / "playbook.yml").read_text()
    line = playbook.splitlines().index("    - marker") + 1
    (bundle / "playbook.yml").write_text(playbook.replace("- marker\n", "- markr\n"))
    text = (bundle / "template.json.j2").read_text().replace("bdp/reference:1.0.0", "bdp/hello:1.0.0")
    (bundle / "template.json.j2").write_text(text.replace("{{ opts.mem }}", "{{ opts.memory }}"))
    (bundle / "product.yml").write_text((bundle / "product.yml").read_text().replace("name: reference", "name: hello"))
    findings = [str(f) for f in lint(bundle) if f.level == "error"]
    assert any(f.startswith(f"playbook.yml:{line}: error: the role 'markr' was not found") for f in findings), findings
    assert any(f.startswith("template.json.j2:") and "memory" in f and "with the defaults" in f
               for f in findings), findings


def test_a_broken_bundle_is_not_loaded_and_says_why(platform, tmp_path):
    from api.catalog.bundle import sync_bundles
    bundle = tmp_path / "b" / "hello" / "1.0.0"
    shutil.copytree(REPO / "products" / "reference" / "1.0.0", bundle)
    (bundle / "product.yml").write_text("name: hello\nversion: 1.0.0\nformat: 2\n")
    (bundle / "playbook.yml").write_text((bundle / "playbook.yml").read_text().replace("- marker\n", "- markr\n"))
    result = sync_bundles(tmp_path / "b")[str(bundle)]
    assert result.startswith("error:") and "the role 'markr' was not found" in result


def test_render_shows_the_document_and_registers_nothing(client):
    from api.core.models import Cluster
    ensure_networks()
    add_product(client)
    r = client.simulate_post(f"{P}/products/demo/1.0/render", json={"size": 3})
    assert r.status_code == 200, r.text
    assert sorted(r.json["document"]["nodes"]) == ["node1", "node2", "node3"]
    assert r.json["cluster"].endswith("/clusters/admin/demo/1.0/1") and r.json["nodes"] == 3
    assert Cluster.select().count() == 0
    r = client.simulate_post(f"{P}/products/demo/1.0/render", json={"size": 2, "nosuch": 1})
    assert r.status_code == 400 and error(r)["field"] == "nosuch"

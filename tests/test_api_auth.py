"""Authentication, roles, users, tokens, SSH keys, health, the OpenAPI document, and
the promise that no client input gets a 500."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
import time

from api.core import auth
from support.common import ADMIN_TOKEN, REPO
from support.rest import P, add_product, add_user, as_user, ensure_networks, error


def test_no_token_bad_token_and_expired_token_are_401(client):
    from api.core.models import Token
    r = client.simulate_get(f"{P}/products", headers={"x-auth-token": ""})
    assert r.status_code == 401 and "x-auth-token" in error(r)["message"]
    r = client.simulate_get(f"{P}/products", headers={"x-auth-token": "guess"})
    assert r.status_code == 401 and error(r)["message"] == "the token is not valid"
    token = add_user(client, "carol", expires_days=1)
    assert client.simulate_get(f"{P}/products", headers=as_user(token)).status_code == 200
    Token.update(expires=dt.datetime(2000, 1, 1)).where(
        Token.digest == hashlib.sha256(token.encode()).hexdigest()).execute()
    auth.forget_tokens()  # the row changed behind the API's back (its cache: next test)
    r = client.simulate_get(f"{P}/products", headers=as_user(token))
    assert r.status_code == 401 and "expired" in error(r)["message"]


def test_a_token_removed_by_another_process_stops_working_within_the_cache_time(client, monkeypatch):
    """The API caches tokens for a few seconds (api/core/auth.py); a revocation made
    through this API takes effect at once, one made elsewhere within CACHE_SECONDS."""
    from api.core.models import Token
    monkeypatch.setattr(auth, "CACHE_SECONDS", 0.3)
    token = add_user(client, "dora")
    assert client.simulate_get(f"{P}/products", headers=as_user(token)).status_code == 200
    Token.delete().where(Token.digest == hashlib.sha256(token.encode()).hexdigest()).execute()
    time.sleep(0.4)
    assert client.simulate_get(f"{P}/products", headers=as_user(token)).status_code == 401
    other = add_user(client, "ed")
    assert client.simulate_get(f"{P}/products", headers=as_user(other)).status_code == 200
    tokens = client.simulate_get(f"{P}/users/ed/tokens").json["tokens"]
    client.simulate_delete(f"{P}/users/ed/tokens/{tokens[0]['id']}")  # through the API: at once
    assert client.simulate_get(f"{P}/products", headers=as_user(other)).status_code == 401


def test_no_spelling_of_a_path_skips_authentication(client):
    """Falcon routes `//bigdata/...` to the API too: it must still ask for a token."""
    for path in ("//bigdata/api/v1/networks/admin/addresses", "//bigdata/api/v1/hosts",
                 "//bigdata/api/v1/products/reference/1.0.0/orchestrator",
                 "//bigdata/api/v1/clusters/admin/reference/1.0.0/1", "/bigdata//api/v1/clusters"):
        r = client.simulate_get(path, headers={"x-auth-token": ""})
        assert r.status_code in (401, 404), (path, r.status_code, r.text)
        assert r.json["status"] == r.status_code


def test_bearer_header_works_too(client):
    r = client.simulate_get(f"{P}/products", headers={"x-auth-token": "", "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200


def test_tokens_are_stored_as_digests_only(client, settings):
    token = add_user(client, "dave")
    from api.core.models import Token
    digests = {t.digest for t in Token.select()}
    assert hashlib.sha256(token.encode()).hexdigest() in digests and token not in digests
    for path in settings.data_dir.glob("bdp.sqlite*"):
        assert token.encode() not in path.read_bytes()
        assert ADMIN_TOKEN.encode() not in path.read_bytes()


def test_users_and_tokens_api(client):
    eve = add_user(client, "eve")
    h = as_user(eve)
    assert client.simulate_post(f"{P}/users", json={"name": "x"}, headers=h).status_code == 403
    assert client.simulate_get(f"{P}/users", headers=h).status_code == 403
    r = client.simulate_post(f"{P}/users", json={"name": "eve"})
    assert r.status_code == 409 and error(r)["field"] == "name"
    r = client.simulate_post(f"{P}/users", json={"name": "frank", "role": "root"})
    assert r.status_code == 400 and error(r)["field"] == "role"
    assert [u["name"] for u in client.simulate_get(f"{P}/users").json["users"]] == ["admin", "eve"]
    assert client.simulate_get(f"{P}/users/eve", headers=h).json["role"] == "user"
    assert client.simulate_get(f"{P}/users/admin", headers=h).status_code == 403
    # A user makes a second token of their own, lists them (no secrets), revokes one.
    r = client.simulate_post(f"{P}/users/me/tokens", json={"name": "laptop", "expires_days": 30}, headers=h)
    assert r.status_code == 201 and r.json["expires"]
    second = r.json["token"]
    listed = client.simulate_get(f"{P}/users/eve/tokens", headers=as_user(second)).json["tokens"]
    assert [t["name"] for t in listed] == ["test", "laptop"] and all("token" not in t for t in listed)
    assert client.simulate_delete(f"{P}/users/eve/tokens/{listed[1]['id']}", headers=h).status_code == 204
    assert client.simulate_get(f"{P}/products", headers=as_user(second)).status_code == 401
    r = client.simulate_post(f"{P}/users/eve/tokens", json={"expires_days": -1}, headers=h)
    assert r.status_code == 400 and error(r)["field"] == "expires_days"
    assert client.simulate_post(f"{P}/users/admin/tokens", json={}, headers=h).status_code == 403
    assert client.simulate_delete(f"{P}/users/eve").status_code == 204
    assert client.simulate_get(f"{P}/products", headers=h).status_code == 401


def _public_key(tmp_path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    return (tmp_path / "k.pub").read_text().strip()


def test_ssh_keys_are_checked(client, tmp_path):
    token = add_user(client, "gina")
    h = as_user(token)
    key = _public_key(tmp_path)
    r = client.simulate_put(f"{P}/users/gina/ssh_keys", json={"ssh_keys": [key]}, headers=h)
    assert r.status_code == 200 and r.json == {"ssh_keys": [key]}
    assert client.simulate_get(f"{P}/users/gina/ssh_keys", headers=h).json == {"ssh_keys": [key]}
    for bad, needle in (("ssh-ed25519 AAAAnotbase64", "not a valid OpenSSH public key"),
                        ((tmp_path / "k").read_text(), "private key"), ("", "non-empty")):
        r = client.simulate_put(f"{P}/users/gina/ssh_keys", json={"ssh_keys": [key, bad]}, headers=h)
        assert r.status_code == 400 and error(r)["field"] == "ssh_keys.1" and needle in error(r)["message"]
    assert client.simulate_get(f"{P}/users/gina/ssh_keys", headers=h).json == {"ssh_keys": [key]}
    r = client.simulate_put(f"{P}/users/gina/ssh_keys", json={"keys": []}, headers=h)
    assert r.status_code == 400 and error(r)["field"] in ("keys", "ssh_keys")
    assert client.simulate_put(f"{P}/users/admin/ssh_keys", json={"ssh_keys": []}, headers=h).status_code == 403


def test_health_and_openapi_need_no_token(client):
    r = client.simulate_get(f"{P}/health", headers={"x-auth-token": ""})
    assert r.status_code == 200 and r.json == {"status": "ok", "database": "ok"}
    doc = client.simulate_get(f"{P}/openapi.json", headers={"x-auth-token": ""}).json
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    launch = paths["/bigdata/api/v1/products/{name}/{version}"]["post"]
    assert "202" in launch["responses"] and "400" in launch["responses"]
    assert "requestBody" in paths["/bigdata/api/v1/products"]["post"]
    for p in ("/orquestrator", "/orchestrator", "/template", "/options", "/logo_url"):
        assert f"/bigdata/api/v1/products/{{name}}/{{version}}{p}" in paths
    schemas = doc["components"]["schemas"]
    assert any(k.startswith("ProductCreate") for k in schemas) and any(k.startswith("ClusterView") for k in schemas)


def test_no_auth_mode_makes_every_caller_admin(settings):
    from falcon import testing

    from api.http.app import create_app
    from api.platform import Platform
    settings.no_auth = True
    platform = Platform(settings)
    try:
        c = testing.TestClient(create_app(platform))
        assert c.simulate_post(f"{P}/products", json={"name": "open", "version": "1"}).status_code == 201
    finally:
        platform.database.close()


GARBAGE = [b"", b"null", b"[]", b"{", b'"x"', b"1e999", b'{"size": {"a": []}}', b"\xff\xfe\x00",
           b'{"name": null, "version": []}', b'{"ssh_keys": [1, null]}', b"- a\n- b: [",
           b'{"required": [], "optional": "x"}', b'{"logo_url": 5}', b"\x1f\x8b\x08\x00garbage"]
CTYPES = ["application/json", "application/gzip", ""]


def test_no_client_input_gets_a_500(client):
    ensure_networks()
    add_product(client)
    add_user(client, "zed")
    paths = ["/products", "/products/demo/1.0", "/products/demo/1.0/template", "/products/demo/1.0/options",
             "/products/demo/1.0/orchestrator", "/products/demo/1.0/logo_url", "/users", "/users/zed/tokens",
             "/users/zed/ssh_keys", "/clusters/admin/demo/1.0/1", "/queue/1"]
    for path in paths:
        for method in ("POST", "PUT", "PATCH"):
            for body in GARBAGE:
                for ctype in CTYPES:
                    r = client.simulate_request(method, P + path, body=body, headers={"Content-Type": ctype})
                    assert r.status_code < 500, (method, path, body, ctype, r.text)
                    if r.status_code >= 400:
                        error(r)


def _bdp(*args, data_dir, env=None):
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "BDP_DATA_DIR": str(data_dir), **(env or {})}, timeout=60)


def test_cli_users_add_and_tokens_create(tmp_path):
    data = tmp_path / "cli"
    r = _bdp("users", "add", "hank", data_dir=data)
    assert r.returncode == 0 and "hank (user) created" in r.stdout
    assert _bdp("users", "add", "hank", data_dir=data).returncode == 1
    assert _bdp("users", "add", "root", "--admin", data_dir=data).returncode == 0
    r = _bdp("tokens", "create", "hank", "--expires", "2", data_dir=data)
    assert r.returncode == 0 and "expires" in r.stderr
    token = r.stdout.strip()
    assert _bdp("tokens", "create", "nobody", data_dir=data).returncode == 1
    assert "hank\tuser" in _bdp("users", "list", data_dir=data).stdout

    from falcon import testing

    from api.core.config import Settings
    from api.http.app import create_app
    from api.platform import Platform
    platform = Platform(Settings(data_dir=data))
    try:
        c = testing.TestClient(create_app(platform))
        assert c.simulate_get(f"{P}/users/me", headers=as_user(token)).json["name"] == "hank"
        assert c.simulate_get(f"{P}/users", headers=as_user(token)).status_code == 403
        # No BDP_ADMIN_TOKEN: a token was generated and written 0600 for the admin.
        admin_token = (data / "admin.token").read_text().strip()
        assert oct((data / "admin.token").stat().st_mode & 0o777) == "0o600"
        assert c.simulate_get(f"{P}/users", headers=as_user(admin_token)).status_code == 200
    finally:
        platform.database.close()

"""What a client sends (issue 11, findings 3, 4, 5, 6 and 7): valid Unicode only, bounded
bodies and nesting, ASCII ids, tokens that never outlive their creator, empty bodies
refused, one error shape for unknown routes. Through the falcon app; no Docker."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from support.rest import OPTIONS, P, add_product, add_user, as_user, ensure_networks, error

JSON = {"content-type": "application/json"}


@pytest.fixture
def demo(client):
    ensure_networks()
    add_product(client, "demo", "1.0", options={**OPTIONS, "advanced": {"heap": 512, "note": "x"}})
    return client


def test_a_lone_surrogate_is_refused_naming_the_field_and_listings_keep_working(demo):
    """Finding 3: accepted at launch, it broke GET /clusters for everyone, for good."""
    r = demo.simulate_post(f"{P}/products/demo/1.0", body='{"size": 1, "note": "a\\ud800b"}', headers=JSON)
    assert r.status_code == 400
    assert error(r)["field"] == "note" and "lone UTF-16 surrogate" in error(r)["message"]
    r = demo.simulate_post(f"{P}/products/demo/1.0", body='{"size": 1, "\\udfff": 1}', headers=JSON)
    assert r.status_code == 400 and error(r)["field"] == "body"
    r = demo.simulate_get(f"{P}/clusters")
    assert r.status_code == 200 and r.json == {"clusters": [], "next": None}


def test_a_row_written_before_the_check_cannot_break_a_listing(demo):
    from api.core.models import Cluster
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "note": "fine"})
    assert r.status_code == 202
    Cluster.update(options={"size": 1, "note": "bad\ud800"}).execute()
    r = demo.simulate_get(f"{P}/clusters")
    assert r.status_code == 200 and r.json["clusters"][0]["options"]["note"] == "bad\ud800"
    assert b"\\ud800" in r.content


@pytest.mark.parametrize("raw_path, query, field", [
    (b"/clusters/\xed\xa0\x80", "", "path"), (b"/products/\xff", "", "path"),
    (b"/clusters", "user=%ED%A0%80", "query")])
def test_paths_and_query_strings_must_be_utf8(client, raw_path, query, field):
    # As a WSGI server hands them over: percent-decoded bytes, tunnelled as ISO-8859-1
    # (falcon's test client would decode them itself, with replacement characters).
    environ = {"PATH_INFO": (P.encode() + raw_path).decode("iso-8859-1")}
    r = client.simulate_get(P + "/clusters", query_string=query, extras=environ)
    assert r.status_code == 400 and error(r)["field"] == field


def test_bodies_are_bounded_and_nesting_too(demo):
    """Finding 4: a 10 MB option value was accepted; JSON nested 5000 deep was a 500."""
    big = b'{"size": 1, "note": "' + b"x" * (10 * 2**20) + b'"}'
    r = demo.simulate_post(f"{P}/products/demo/1.0", body=big, headers=JSON)
    assert r.status_code == 413 and error(r)["field"] == "body"
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "note": "x" * 70000})
    assert r.status_code == 400 and error(r)["field"] == "note" and "longer than 65536" in error(r)["message"]
    for body in ("[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000):
        r = demo.simulate_post(f"{P}/products/demo/1.0", body=body, headers=JSON)
        assert r.status_code == 400 and "deeper than 64" in error(r)["message"]
    # Brackets inside strings are text, not nesting.
    r = demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1, "note": "[" * 1000})
    assert r.status_code == 202, r.text
    r = demo.simulate_post(f"{P}/products/demo/1.0", body=b'{"size": 1, "note": "\xff"}', headers=JSON)
    assert r.status_code == 400 and "not UTF-8" in error(r)["message"]
    from api.core.models import Cluster
    assert Cluster.select().count() == 1


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(demo, constant):
    """Python's reader takes them, no JSON reader does: stored as an option they came back
    as text a client could not parse. Refused, naming them, and nothing launched."""
    r = demo.simulate_post(f"{P}/products/demo/1.0", body=f'{{"size": 1, "advanced": {{"heap": {constant}}}}}',
                           headers=JSON)
    assert r.status_code == 400, r.text
    assert error(r)["message"] == f"the request body is not valid JSON: {constant} is not a JSON value"
    from api.core.models import Cluster
    assert Cluster.select().count() == 0


@pytest.mark.parametrize("path", ["/queue/\u00b9", "/queue/\u0661", "/clusters/admin/demo/1.0/\u0661",
                                  "/clusters/admin/demo/1.0/1.0", "/clusters/admin/demo/1.0/99999999999999999999",
                                  "/users/admin/tokens/\u00b2"])
def test_ids_are_ascii_digits(demo, path):
    """Finding 5: '/queue/¹' was a 500 and '.../1.0.0/١' found cluster 1."""
    assert demo.simulate_post(f"{P}/products/demo/1.0", json={"size": 1}).status_code == 202
    method = demo.simulate_delete if "/tokens/" in path else demo.simulate_get
    r = method(P + path)
    assert r.status_code == 404, r.text
    assert error(r)["error"] == "Not Found"


def test_a_token_never_outlives_the_token_that_created_it(client):
    """Finding 6: a token of expires_days 0.0001 could mint one that never expires."""
    short = add_user(client, "eve", expires_days=0.00006)  # 5.2 s
    r = client.simulate_post(f"{P}/users/eve/tokens", json={"name": "forever"}, headers=as_user(short))
    assert r.status_code == 201
    assert r.json["capped"] is True and "never outlives" in r.json["note"]
    forever = r.json["token"]
    r = client.simulate_post(f"{P}/users/eve/tokens", json={"name": "long", "expires_days": 365},
                             headers=as_user(short))
    assert r.json["capped"] is True
    tokens = {t["name"]: t["expires"] for t in client.simulate_get(f"{P}/users/eve/tokens").json["tokens"]}
    assert tokens["forever"] == tokens["long"] == tokens["test"]
    expiry = dt.datetime.fromisoformat(tokens["test"])
    assert expiry - dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) < dt.timedelta(seconds=6)
    # A shorter one than the creator stays as asked.
    r = client.simulate_post(f"{P}/users/eve/tokens", json={"expires_days": 0.000001}, headers=as_user(short))
    assert r.json["capped"] is False
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and client.simulate_get(f"{P}/users/me", headers=as_user(forever)).status_code == 200:
        time.sleep(0.5)
    assert client.simulate_get(f"{P}/users/me", headers=as_user(forever)).status_code == 401
    # A token without expiry (the admin's) mints what it is asked for.
    r = client.simulate_post(f"{P}/users/eve/tokens", json={"name": "admin-made"})
    assert r.json["expires"] is None and r.json["capped"] is False


def test_putting_options_with_an_empty_body_is_refused_and_keeps_them(demo):
    """Finding 7: it answered 200 and wiped the options."""
    r = demo.simulate_put(f"{P}/products/demo/1.0/options", body=b"", headers=JSON)
    assert r.status_code == 400 and error(r)["field"] == "body"
    assert demo.simulate_get(f"{P}/products/demo/1.0/options").json["required"] == {"size": 2}


def test_unknown_routes_answer_the_documented_shape(client):
    r = client.simulate_get("/no/such/thing")
    assert r.status_code == 404
    assert error(r) == {"status": 404, "error": "Not Found", "message": "no resource at /no/such/thing"}
    r = client.simulate_patch(f"{P}/health")
    assert r.status_code == 405 and error(r)["error"] == "Method Not Allowed"


@pytest.mark.parametrize("path", ["/", "/console/js/app.js", "/console/css/console.css", f"{P}/health",
                                  f"{P}/products", "/no/such/thing", f"{P}/openapi.json"])
def test_every_response_carries_the_security_headers(client, path):
    """Finding 9: neither the console nor the API sent any."""
    r = client.simulate_get(path)
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_errors_carry_them_too(client):
    r = client.simulate_get(f"{P}/clusters", headers={"x-auth-token": "wrong"})
    assert r.status_code == 401 and r.headers["x-frame-options"] == "DENY"


def test_every_operation_documents_its_answers_errors_included(client):
    """Finding 7: 25 of 49 operations documented no response at all."""
    doc = client.simulate_get(f"{P}/openapi.json").json
    assert all(path.startswith(P) for path in doc["paths"])  # the console is not the API
    operations = [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]
    assert len(operations) > 40
    for path, method, op in operations:
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), (method, path)
        assert {"400", "404", "503"} <= codes, (method, path)
        if not path.endswith(("/health", "/openapi.json")):
            assert {"401", "403"} <= codes, (method, path)
        if method in ("post", "put", "patch"):
            assert {"409", "413", "415"} <= codes, (method, path)
        error = op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"]
        assert error.split("/")[-1].startswith("ErrorBody")

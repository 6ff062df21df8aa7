"""The http action against local listeners that count every hit, through the real SSRF guard."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from playbooks.actions import ActionContext, ActionError, kind
from playbooks.actions import connection as action_connection
from playbooks.actions import http as http_kind
from tests.connections.conftest import fresh_cache, key_ring, make_connection  # noqa: F401
from tests.connections.servers import Listener, json_route

HTTP = kind("http")
PRIVATE_REFUSAL = "is a private address; only connections an admin marked internal may reach it"

pytestmark = pytest.mark.django_db


def context(tmp_path: Path, spec: dict[str, Any], **kwargs: Any) -> ActionContext:
    return ActionContext(run_id="run-1", action_name="call", namespace="default", spec=spec,
                         workdir=tmp_path, timeout=5.0, **kwargs)


@pytest.fixture
def server():
    routes = {"/api/items": json_route({"items": [1, 2]}),
              "/api/created": (201, {"Content-Type": "text/plain"}, b"made"),
              "/api/missing": (404, {}, b"nope"),
              "/api/echo": lambda hit: (200, {}, hit.body),
              "/api/big": (200, {}, b"[" + b"1," * (200 * 1024) + b"1]")}
    with Listener(routes=routes) as listener:
        yield listener


@pytest.fixture
def internal(server):
    return make_connection("api", {"http": {"url": f"{server.url}/api",
                                            "bearer": "t0k-action-http"}, "internal": True})


def test_get_through_an_internal_connection_sends_its_auth_and_parses_json(tmp_path, server,
                                                                           internal):
    spec = {"connection": "connection://default/api", "url": "items",
            "headers": [{"name": "X-Run", "value": "run-1"}]}

    result = HTTP.run(context(tmp_path, spec))

    assert result["status"] == 200 and result["json"] == {"items": [1, 2]}
    assert result["headers"]["content-type"] == "application/json"
    hit = server.hits[0]
    assert hit.path == "/api/items" and hit.method == "GET"
    assert hit.headers["Authorization"] == "Bearer t0k-action-http"
    assert hit.headers["X-Run"] == "run-1"


def test_a_connection_not_marked_internal_is_refused_by_the_ssrf_guard(tmp_path, server):
    make_connection("outside", {"http": {"url": f"{server.url}/api"}})

    with pytest.raises(ActionError) as caught:
        HTTP.run(context(tmp_path, {"connection": "outside", "url": "items"}))

    assert str(caught.value) == f"127.0.0.1 {PRIVATE_REFUSAL}"
    assert server.hits == []


def test_a_bare_url_may_not_reach_a_private_address(tmp_path, server):
    with pytest.raises(ActionError, match="private address"):
        HTTP.run(context(tmp_path, {"url": f"{server.url}/api/items"}))

    assert server.hits == []


def test_a_url_beside_a_connection_must_stay_on_its_host(tmp_path, server, internal):
    with pytest.raises(ActionError, match="must stay on the connection's host"):
        HTTP.run(context(tmp_path, {"connection": "api", "url": "http://127.0.0.2:9/x"}))

    assert server.hits == []


def test_post_sends_the_body_and_expect_status_accepts_201(tmp_path, server, internal):
    spec = {"connection": "api", "url": "created", "method": "post", "body": '{"a": 1}',
            "expectStatus": [201]}

    result = HTTP.run(context(tmp_path, spec))

    assert result["status"] == 201 and result["body"] == "made" and result["json"] is None
    assert server.hits[0].method == "POST" and server.hits[0].body == b'{"a": 1}'


def test_an_unexpected_status_fails_with_the_response(tmp_path, server, internal):
    with pytest.raises(ActionError) as caught:
        HTTP.run(context(tmp_path, {"connection": "api", "url": "created",
                                    "expectStatus": [200, 204]}))

    assert caught.value.result["status"] == 201 and caught.value.result["body"] == "made"
    assert "expected 200, 204" in str(caught.value)


def test_default_expectation_is_any_2xx(tmp_path, server, internal):
    assert HTTP.run(context(tmp_path, {"connection": "api", "url": "created"}))["status"] == 201
    with pytest.raises(ActionError, match="expected 2xx") as caught:
        HTTP.run(context(tmp_path, {"connection": "api", "url": "missing"}))

    assert caught.value.result["status"] == 404


def test_a_parsed_body_is_sent_as_json(tmp_path, server, internal):
    spec = {"connection": "api", "url": "echo", "method": "PUT", "body": {"replicas": 3}}

    result = HTTP.run(context(tmp_path, spec))

    assert result["json"] == {"replicas": 3}
    assert server.hits[0].headers["Content-Type"] == "application/json"


def test_the_response_body_is_capped(tmp_path, server, internal):
    result = HTTP.run(context(tmp_path, {"connection": "api", "url": "big"}))

    assert len(result["body"]) == http_kind.BODY_CAP
    assert result["truncated"] is True and result["json"] is None


@pytest.fixture
def external(monkeypatch):
    """One loopback listener the guard is told to treat as a public host, as in the SSRF tests."""
    with Listener(host="127.0.0.2") as listener:
        trusted = dataclasses.replace(action_connection.BASE_POLICY,
                                      trusted=frozenset({("127.0.0.2", listener.port)}))
        monkeypatch.setattr(action_connection, "BASE_POLICY", trusted)
        yield listener


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_an_internal_address_is_refused(tmp_path, server, external, status):
    external.routes["/go"] = (status, {"Location": f"{server.url}/api/items"}, b"")

    with pytest.raises(ActionError) as caught:
        HTTP.run(context(tmp_path, {"url": f"{external.url}/go"}))

    assert str(caught.value) == f"127.0.0.1 {PRIVATE_REFUSAL}"
    assert len(external.hits) == 1 and server.hits == []


def test_a_redirect_to_the_metadata_address_is_refused(tmp_path, external):
    external.routes["/go"] = (302, {"Location": "http://169.254.169.254/latest/"}, b"")

    with pytest.raises(ActionError, match="never reachable"):
        HTTP.run(context(tmp_path, {"url": f"{external.url}/go"}))


def test_the_trusted_external_listener_is_reached_by_a_bare_url(tmp_path, external):
    external.routes["/ok"] = json_route({"ok": True})

    assert HTTP.run(context(tmp_path, {"url": f"{external.url}/ok"}))["json"] == {"ok": True}


def test_dry_run_plans_with_masked_auth_and_sends_nothing(tmp_path, server, internal):
    spec = {"connection": "api", "url": "echo", "method": "POST", "body": "hello",
            "headers": [{"name": "X-Api-Key", "value": "k3y"}, {"name": "X-Run", "value": "1"}]}

    result = HTTP.run(context(tmp_path, spec, dry_run=True))

    assert result == {"plan": {"method": "POST", "url": f"{server.url}/api/echo",
                               "headers": {"Authorization": "***", "X-Api-Key": "***",
                                           "X-Run": "1"},
                               "body": "hello"}}
    assert "t0k-action-http" not in json.dumps(result)
    assert server.hits == []


def test_validate_reports_field_paths():
    problems = HTTP.validate({"method": "FETCH", "expectStatus": [200, 700, "{{ x }}"],
                              "headers": [{"name": "bad name", "value": "v"}], "timeout": "soon",
                              "bogus": True})

    assert ("url", "Give a connection or a url.") in problems
    assert ("expectStatus[1]", "must be an HTTP status between 100 and 599") in problems
    assert not any(path == "expectStatus[2]" for path, _ in problems)
    assert ("headers[0].name", "must be an HTTP header name") in problems
    assert any(path == "method" for path, _ in problems)
    assert any(path == "timeout" for path, _ in problems)
    assert ("bogus", "Unknown field.") in problems
    assert HTTP.validate({"url": "https://example.com/{{ params.path }}", "timeout": "30s",
                          "body": "{{ params.body }}"}) == []
